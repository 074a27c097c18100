// Whether a process runs on this machine: what tells a dead writer's leftovers
// (temp files, staging folders, locks) from a live writer's.

/** True for this process, for a running one, and for one of another user (EPERM). */
export function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
