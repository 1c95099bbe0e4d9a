import os from 'node:os';

/** Where and when a run happened. */
export interface Machine {
  /** ISO date of the start of the run. */
  readonly date: string;
  /** `process.version`. */
  readonly node: string;
  /** CPU model as the OS reports it. */
  readonly cpu: string;
  /** Logical cores. */
  readonly cores: number;
  /** `linux 6.1.0-…`. */
  readonly os: string;
  /** Total memory, in GiB. */
  readonly memoryGiB: number;
  /** 1, 5 and 15 minute load averages at the start: other work on a shared machine. */
  readonly loadStart: readonly number[];
  /** The same at the end. */
  readonly loadEnd?: readonly number[];
}

/** Describes this machine now. */
export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    os: `${os.platform()} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    loadStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

/** Adds the load averages at the end of the run. */
export function finishMachine(machine: Machine): Machine {
  return { ...machine, loadEnd: os.loadavg().map((load) => Math.round(load * 100) / 100) };
}

/** One line: Node, CPU × cores, OS, memory, load at start (and end). */
export function machineLine(machine: Machine): string {
  const load = (values: readonly number[]): string => values.map((v) => v.toFixed(2)).join(' ');
  return [
    `Node ${machine.node}`,
    `${machine.cpu} × ${machine.cores} cores`,
    machine.os,
    `${machine.memoryGiB} GiB`,
    `load ${load(machine.loadStart)}${machine.loadEnd === undefined ? '' : ` → ${load(machine.loadEnd)}`}`,
  ].join(' · ');
}
