import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** How busy this process's event loop has been lately: `performance.eventLoopUtilization` over a sliding window. */
export interface EventLoopLoad {
  /** The share of the last window (0–1) the loop spent outside its wait for I/O. */
  utilization(): number;
  stop(): void;
}

/**
 * Samples the event loop's utilization every `intervalMs` (an unref'd timer: it keeps no process
 * alive), so that a caller can ask at no cost whether the loop has been busy lately.
 */
export function watchEventLoopLoad(intervalMs = 100): EventLoopLoad {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let value = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    value = performance.eventLoopUtilization(now, last).utilization;
    last = now;
  }, intervalMs);
  timer.unref();
  return {
    utilization: () => value,
    stop: () => clearInterval(timer),
  };
}
