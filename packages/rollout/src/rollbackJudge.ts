import type { ModelComparison, TrafficRules } from '@inferq/core';

/** A rule a candidate broke, and the figures that broke it, in words for the record. */
export interface BrokenRule {
  rule: 'maxErrorRate' | 'minAgreement' | 'maxP95Ms';
  reason: string;
}

/** Jobs a candidate needs before any rule is judged, when the rules name none. */
export const defaultMinJobs = 100;

/**
 * The first rule the candidate of `comparison` breaks, or null. Error rate and p95 are judged once
 * the candidate ran `minJobs` jobs (primary and shadow runs together), agreement once there are
 * `minJobs` shadowed pairs: fewer say too little to take traffic away on.
 */
export function brokenRule(rules: TrafficRules, comparison: ModelComparison): BrokenRule | null {
  const minJobs = rules.minJobs ?? defaultMinJobs;
  const { candidate, shadow } = comparison;
  const runs = candidate.jobs + candidate.shadowRuns;
  const fmt = (n: number) => Number(n.toFixed(4));
  if (runs >= minJobs) {
    if (rules.maxErrorRate !== undefined && candidate.errorRate !== null && candidate.errorRate > rules.maxErrorRate) {
      return {
        rule: 'maxErrorRate',
        reason: `error rate ${fmt(candidate.errorRate)} over ${runs} runs is above maxErrorRate ${rules.maxErrorRate}`,
      };
    }
    if (rules.maxP95Ms !== undefined && candidate.p95Ms !== null && candidate.p95Ms > rules.maxP95Ms) {
      return {
        rule: 'maxP95Ms',
        reason: `p95 inference time ${fmt(candidate.p95Ms)} ms over ${runs} runs is above maxP95Ms ${rules.maxP95Ms}`,
      };
    }
  }
  if (
    rules.minAgreement !== undefined &&
    shadow.pairs >= minJobs &&
    shadow.agreement !== null &&
    shadow.agreement < rules.minAgreement
  ) {
    return {
      rule: 'minAgreement',
      reason: `top-1 agreement ${fmt(shadow.agreement)} over ${shadow.pairs} shadowed pairs is below minAgreement ${rules.minAgreement}`,
    };
  }
  return null;
}
