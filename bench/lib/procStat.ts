// CPU time and resident memory of processes on this machine, read from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus as machineCpus } from 'node:os';

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU milliseconds a process has used so far, or null once it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

/** Read- and write-family system calls a process has made so far (/proc/PID/io), or null once it is gone. */
export function syscalls(pid: number): { reads: number; writes: number } | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return null;
  }
}

/** Resident set size in MiB, or null once the process is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The 1-minute load average and the machine's core count, recorded with every run. */
export function machineLoad(): { load1: number; load5: number; cores: number; uptime: string } {
  const [load1, load5] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number) as [number, number];
  let uptime: string;
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = `load average: ${load1}, ${load5}`;
  }
  const cores = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('processor')).length;
  return { load1, load5, cores, uptime };
}

/** CPU milliseconds of a set of processes between `start()` and `stop()`; pids may join later. */
export class CpuMeter {
  readonly #start = new Map<number, number>();
  readonly #syscallsAtStart = new Map<number, { reads: number; writes: number }>();

  /** Records the current CPU time and system call counts of each pid. */
  start(pids: number[]): void {
    for (const pid of pids) {
      const ms = cpuMs(pid);
      if (ms !== null) this.#start.set(pid, ms);
      const calls = syscalls(pid);
      if (calls !== null) this.#syscallsAtStart.set(pid, calls);
    }
  }

  /** Read and write system calls `pids` made since `start`: socket reads and writes, above all. */
  syscallsSince(pids: number[]): { reads: number; writes: number } {
    const total = { reads: 0, writes: 0 };
    for (const pid of pids) {
      const now = syscalls(pid);
      if (now === null) continue;
      const before = this.#syscallsAtStart.get(pid) ?? { reads: 0, writes: 0 };
      total.reads += now.reads - before.reads;
      total.writes += now.writes - before.writes;
    }
    return total;
  }

  /** CPU ms used by `pids` since `start` (a pid not seen at start counts from 0: it started during the run). */
  since(pids: number[]): number {
    let total = 0;
    for (const pid of pids) {
      const now = cpuMs(pid);
      if (now !== null) total += now - (this.#start.get(pid) ?? 0);
    }
    return total;
  }
}

/** `pid` and every process below it (a worker entry that supervises WORKER_PROCESSES children), from /proc. */
export function withDescendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command may hold spaces and parentheses: the parent pid is the second field after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const child of children.get(p) ?? []) walk(child);
  };
  walk(pid);
  return out;
}

/**
 * Pins every thread of each process to `cpus` (a list as taskset reads it, `0` or `0,2-3`), as
 * `taskset -a -p -c` does. Threads started later inherit it; a process gone meanwhile is skipped.
 */
export function pinToCpus(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    } catch {
      if (existsSync(`/proc/${pid}`)) throw new Error(`taskset could not pin ${pid} to CPUs ${cpus}`);
    }
  }
}

/** The machine's CPUs not in `cpus` (a taskset list), as a taskset list; throws when none is left. */
export function otherCpus(cpus: string): string {
  const taken = new Set<number>();
  for (const part of cpus.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    if (!Number.isInteger(from) || !Number.isInteger(to)) throw new Error(`not a CPU list: ${cpus}`);
    for (let cpu = from; cpu <= to!; cpu++) taken.add(cpu);
  }
  const rest = Array.from({ length: machineCpus().length }, (_, cpu) => cpu).filter((cpu) => !taken.has(cpu));
  if (rest.length === 0) throw new Error(`CPUs ${cpus} leave none for the rest`);
  return rest.join(',');
}
