import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Debian's Python with `python3-prometheus-client` (.ci/run installs it). */
const PYTHON = '/usr/bin/python3';

/** One sample line as the official parser reads it: `name{labels} value`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A metric family: its `# TYPE` and samples (a histogram's `_bucket`, `_sum` and `_count` lines). */
export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

// prometheus_client.parser is the Prometheus project's own Python client's parser of the text format
// (https://github.com/prometheus/client_python/blob/master/prometheus_client/parser.py); it raises
// on a line it cannot read.
const SCRIPT = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]})
print(json.dumps(out))
`;

/**
 * Parses Prometheus text exposition with the official Python client's parser.
 * @throws {Error} when the parser is missing (one line saying how to install it) or rejects the text.
 */
export function parsePrometheus(text: string): PromFamily[] {
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} not found: apt-get install -y python3-prometheus-client`);
  const res = spawnSync(PYTHON, ['-c', SCRIPT], { input: text, encoding: 'utf8', env: {}, timeout: 20_000 });
  if (res.status !== 0) {
    if (/No module named 'prometheus_client'/.test(res.stderr)) throw new Error('prometheus_client is missing: apt-get install -y python3-prometheus-client');
    throw new Error(`the Prometheus parser rejected the text: ${res.stderr.trim().split('\n').pop()}`);
  }
  return JSON.parse(res.stdout) as PromFamily[];
}

/**
 * The value of the one sample called `name` whose labels include `labels`; undefined when none.
 * @throws {Error} when several samples match.
 */
export function sampleValue(families: PromFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = families
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} samples match ${name} ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}
