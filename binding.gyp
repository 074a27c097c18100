{
  "variables": {
    "genrm_cflags": ["-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
    "cflags_cc": ["<@(genrm_cflags)"]
  },
  "targets": [
    {
      "target_name": "genrm_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.cjs avx2)"],
      "cflags_cc": ["-mavx2", "-mfma", "-ffp-contract=fast", "-fPIC"]
    },
    {
      "target_name": "genrm_avx512",
      "type": "static_library",
      "sources": ["<!@(node scripts/native-sources.cjs avx512)"],
      "cflags_cc": ["-mavx512f", "-mavx2", "-mfma", "-ffp-contract=fast", "-fPIC"]
    },
    {
      "target_name": "genrm",
      "dependencies": ["genrm_avx2", "genrm_avx512"],
      "sources": ["<!@(node scripts/native-sources.cjs portable)"],
      "libraries": ["-pthread", "-ldl"],
      "ldflags": ["-pthread"]
    }
  ]
}
