// The engine against golden values from an independent float64 PyTorch
// implementation of the same Llama model (test/fixtures/make_fixtures.py):
// logits, per-sequence log-probs, rewards, each loss, every gradient, one AdamW step.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model, openSafetensors, packageRoot, type Objective, type PackedBatch } from '../lib/index.js';

interface Inputs {
  tokens: number[];
  cu_seqlens: number[];
  loss_mask: number[];
  ref_logps: number[];
  dpo: { pairs: [number, number][]; beta: number; label_smoothing: number };
  bt: { pairs: [number, number][]; margins: number[]; center_rewards_coefficient: number };
  adamw: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    weight_decay: number;
    max_grad_norm: number;
    no_decay: string[];
  };
}

const fixtures = ['gqa_tied', 'packed', 'llama3_scaled', 'qwen2_bias', 'qwen3_qk_norm', 'llama_bias'];
const dirOf = (name: string) => join(packageRoot(), 'test', 'fixtures', name);

async function load(name: string) {
  const dir = dirOf(name);
  const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as Inputs;
  const expected = await openSafetensors(join(dir, 'expected.safetensors'));
  const batch: PackedBatch = {
    ids: Int32Array.from(inputs.tokens),
    cuSeqlens: Int32Array.from(inputs.cu_seqlens),
    lossMask: Uint8Array.from(inputs.loss_mask),
  };
  return { dir, inputs, expected, batch };
}

/** max |got - want| relative to the largest |want| of the tensor. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0,
    scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  if (got.length !== want.length) return Infinity;
  return scale === 0 ? worst : worst / scale;
}

function objectives(inputs: Inputs): Record<'sft' | 'dpo' | 'bt', Objective> {
  return {
    sft: { type: 'sft' },
    dpo: {
      type: 'dpo',
      pairs: inputs.dpo.pairs,
      refLogps: inputs.ref_logps,
      beta: inputs.dpo.beta,
      labelSmoothing: inputs.dpo.label_smoothing,
    },
    bt: {
      type: 'bt',
      pairs: inputs.bt.pairs,
      margins: inputs.bt.margins,
      centerRewardsCoefficient: inputs.bt.center_rewards_coefficient,
    },
  };
}

for (const name of fixtures) {
  test(`${name}: logits, log-probs and rewards match PyTorch`, async (t) => {
    const { dir, expected, batch } = await load(name);
    const model = await Model.load(dir);
    try {
      const out = await model.forward(batch, { logits: { row0: 0 } });
      t.true(relErr(out.logits!, await expected.readFloat32('logits')) < 1e-4, 'logits');
      t.true(relErr(out.seqLogps!, await expected.readFloat32('seq_logps')) < 1e-5, 'seq_logps');
      t.deepEqual(Array.from(out.seqCounts!), Array.from(await expected.readFloat32('seq_counts')));
      t.true(relErr(out.rewards!, await expected.readFloat32('rewards')) < 1e-4, 'rewards');
    } finally {
      model.dispose();
      await expected.close();
    }
  });

  for (const kind of ['sft', 'dpo', 'bt'] as const) {
    test(`${name}: ${kind} loss and every gradient match PyTorch`, async (t) => {
      const { dir, inputs, expected, batch } = await load(name);
      const model = await Model.load(dir);
      try {
        const { metrics } = await model.computeGradients(objectives(inputs)[kind], batch);
        const wantLoss = (await expected.readFloat32(`loss.${kind}`))[0]!;
        t.true(Math.abs(metrics.loss! - wantLoss) <= 1e-5 * Math.abs(wantLoss), `loss ${metrics.loss} vs ${wantLoss}`);
        if (kind === 'dpo') {
          const m = await expected.readFloat32('dpo.metrics');
          const got = [
            'rewards/chosen',
            'rewards/rejected',
            'rewards/margins',
            'rewards/accuracies',
            'logps/chosen',
            'logps/rejected',
          ].map((k) => metrics[k]!);
          t.true(relErr(got, m) < 1e-5, `dpo metrics ${got} vs ${Array.from(m)}`);
        }
        for (const p of model.parameters) {
          const want = await expected.readFloat32(`grad.${kind}.${p.name}`);
          const err = relErr(model.gradient(p.name), want);
          t.true(err < 1e-3, `grad.${kind}.${p.name}: relative error ${err}`);
        }
      } finally {
        model.dispose();
        await expected.close();
      }
    });
  }

  test(`${name}: clipped AdamW step on the SFT gradients matches torch.optim.AdamW`, async (t) => {
    const { dir, inputs, expected, batch } = await load(name);
    const model = await Model.load(dir);
    try {
      await model.computeGradients({ type: 'sft' }, batch);
      const a = inputs.adamw;
      const step = await model.optimizerStep({
        lr: a.lr,
        beta1: a.beta1,
        beta2: a.beta2,
        eps: a.eps,
        weightDecay: a.weight_decay,
        maxGradNorm: a.max_grad_norm,
      });
      const wantNorm = (await expected.readFloat32('grad_norm.sft'))[0]!;
      t.true(Math.abs(step.grad_norm - wantNorm) <= 1e-4 * wantNorm, `grad_norm ${step.grad_norm} vs ${wantNorm}`);
      t.is(step.learning_rate, a.lr);
      const clip = Math.min(1, a.max_grad_norm / (wantNorm + 1e-6));
      for (const p of model.parameters) {
        const got = model.parameter(p.name),
          want = await expected.readFloat32(`adamw.${p.name}`),
          g = await expected.readFloat32(`grad.sft.${p.name}`);
        let worst = 0;
        for (let i = 0; i < got.length; i++) {
          // Step 1 moves each weight by about lr * sign(g); where |g| is tiny the fp32
          // update is ill-conditioned (eps), so compare tightly only where g matters.
          const tol = Math.abs(g[i]! * clip) > 1e-4 ? 2e-6 : 5e-4;
          worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / tol);
        }
        t.true(worst <= 1, `adamw.${p.name}: error ${worst} x tolerance`);
      }
    } finally {
      model.dispose();
      await expected.close();
    }
  });
}
