/**
 * Cluster time: microseconds since the Unix epoch on this node's clock, with sub-millisecond
 * resolution (the performance timeline's origin plus its monotonic offset). Nodes of one machine
 * share it exactly; across machines it is as good as their NTP or PTP discipline (chrony on a LAN:
 * tens to hundreds of µs; PTP: under 1 µs), which is the cluster's sync error budget.
 */
export function clusterNowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
