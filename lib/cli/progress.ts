// Progress bars and Ctrl-C for long commands. A bar shows done/total, rate, ETA
// and the latest loss; off a terminal (CI, pipes) it prints a line every few
// seconds instead. The first Ctrl-C aborts the work through an AbortSignal so
// it can save and exit cleanly; a second one exits at once.
import cliProgress from 'cli-progress';

export interface Bar {
  update(done: number, total: number, fields?: { loss?: number; note?: string }): void;
  stop(): void;
}

export function progressBar(label: string, unit: string): Bar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(10)} |{bar}| {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}{loss}{note}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 50,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      fps: 5,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = performance.now();
  let started = false;
  return {
    update(done, total, fields = {}) {
      const rate = done / Math.max((performance.now() - start) / 1000, 1e-9);
      const payload = {
        rate: rate >= 10 ? rate.toFixed(0) : rate.toFixed(2),
        loss: fields.loss === undefined ? '' : ` | loss ${fields.loss.toFixed(4)}`,
        note: fields.note ? ` | ${fields.note}` : '',
      };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** An AbortSignal that the first Ctrl-C (SIGINT) or SIGTERM fires; call release() when the work is done. */
export function interruptSignal(what: string): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write(`\ngenrm: interrupted; ${what} (press Ctrl-C again to quit without saving)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
