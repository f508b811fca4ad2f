/** Flows whose counters are kept once they hold and wait for nothing (for metrics and the operators' page). */
export const idleFlowsKept = 100;

/**
 * Forgets the oldest idle flows past {@link idleFlowsKept} (`forget` is told of each): memory
 * stays bounded by the active flows. A map keeps insertion order, so the oldest come first.
 */
export function pruneIdleFlows<S>(
  flows: Map<string, S>,
  isIdle: (state: S) => boolean,
  forget?: (flow: string) => void,
): void {
  let idle = 0;
  for (const state of flows.values()) if (isIdle(state)) idle++;
  for (const [flow, state] of flows) {
    if (idle <= idleFlowsKept) break;
    if (isIdle(state)) {
      flows.delete(flow);
      forget?.(flow);
      idle--;
    }
  }
}
