// A Prometheus histogram with one label whose observations are plain array
// increments, read out at scrape time. prom-client's own histogram hashes its
// label set and allocates on every observation; on a hit path answering
// 100,000 requests a second that garbage is what the tail latency feels.
// It registers with a prom-client Registry like any of its metrics.
import type { Registry } from 'prom-client';

export class HistogramSeries {
  /** counts[i]: observations in (buckets[i-1], buckets[i]]; the last is above every bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(value: number): void {
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

export class CountingHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** As prom-client's metrics name theirs. */
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.labelNames = [labelName];
    registry.registerMetric(this as never);
  }

  /** The series for one label value; keep it, observing on it is the cheap part. */
  series(labelValue: string): HistogramSeries {
    let series = this.#series.get(labelValue);
    if (!series) this.#series.set(labelValue, (series = new HistogramSeries(this.buckets)));
    return series;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const [labelValue, series] of this.#series) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, [this.labelName]: labelValue }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.labelName]: labelValue }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: labelValue }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: labelValue }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}
