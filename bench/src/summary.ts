import type { StepResult, SystemSummary } from './results';

/**
 * The headline figures of one system. The sustained rate is the highest step reached
 * with every step up to it passing, so one lucky step above a failed one does not count.
 */
export function summarize(
  steps: readonly StepResult[],
  options: { readonly referenceDeliveriesPerS: number; readonly lightDeliveriesPerS: number },
): SystemSummary {
  let best: StepResult | undefined;
  for (const step of steps) {
    if (!step.passed) break;
    best = step;
  }
  const reference = steps.find((s) => s.offeredDeliveriesPerS === options.referenceDeliveriesPerS);
  const light = steps.find((s) => s.offeredDeliveriesPerS === options.lightDeliveriesPerS);
  return {
    maxPassingDeliveriesPerS: best?.deliveredPerS ?? null,
    maxPassingOfferedDeliveriesPerS: best?.offeredDeliveriesPerS ?? null,
    saturated: best === undefined || steps.some((s) => !s.passed),
    atReference:
      reference === undefined
        ? null
        : {
            offeredDeliveriesPerS: reference.offeredDeliveriesPerS,
            p50Ms: reference.latencyMs?.p50 ?? null,
            p99Ms: reference.latencyMs?.p99 ?? null,
            cpuUsPerDelivery: reference.serverCpu.usPerDelivery,
            redisUsPerMessage: reference.serverCpu.redisUsPerMessage ?? null,
            loadGenCores: reference.loadGenCpu.totalCores,
            machineBusyCores: busyCores(reference),
          },
    cpuUsPerDeliveryAtLight: light?.serverCpu.usPerDelivery ?? null,
  };
}

/** The machine's busy time during a step: servers, load generators and everything else. */
export function busyCores(step: StepResult): number {
  return step.serverCpu.totalCores + step.loadGenCpu.totalCores + step.otherCores;
}
