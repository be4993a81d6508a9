// The one-glance state the header shows (the tray icon shows the same): computed once by
// the service and carried in its status as `summary`; here it is only read.
import type { ServiceStatus, SummaryState } from "./types";

export type Overall = SummaryState;

export function overall(status: ServiceStatus): Overall {
  return status.summary.state;
}

export function overallText(status: ServiceStatus): string {
  return status.summary.text;
}
