// The Grafana dashboard and the alert rules in dashboards/ name only metrics
// and labels a running edge exports: a renamed metric or a typo in a label
// otherwise shows up as an empty panel, or an alert that can never fire,
// long after the change. No Grafana, no Prometheus, no network: the PromQL is
// read with a small tokenizer, the rules file with a line scanner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestOrigin } from './helpers/origin.js';
import { get, bytes } from './helpers/http.js';
import { startTestEdge, PROJECT_ROOT, type TestEdge } from './helpers/edge.js';

const DASHBOARD = path.join(PROJECT_ROOT, 'dashboards', 'imgedge.json');
const ALERTS = path.join(PROJECT_ROOT, 'dashboards', 'alerts.yml');

/** Labels Prometheus adds to every series of a target. */
const TARGET_LABELS = ['job', 'instance'];
/** Metrics the rules read that other exporters provide, with the labels they are used with. */
const EXTERNAL: Record<string, readonly string[]> = {
  up: [],
  kube_pod_status_ready: ['condition', 'namespace', 'pod'],
};
const HISTOGRAM_SUFFIX = /^(.+)_(bucket|count|sum)$/;

// ---------------------------------------------------------------- PromQL

interface PromqlRefs {
  readonly metrics: Set<string>;
  readonly labels: Set<string>;
}

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool',
  'and', 'or', 'unless', 'atan2', 'offset', 'inf', 'nan',
]);

/** Replaces string literals by "" and drops # comments, so neither can look like a name. */
function stripStringsAndComments(expr: string): string {
  let out = '';
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      out += '""';
      i = j;
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

/** The metric names and label names one PromQL expression refers to. */
function promqlRefs(expr: string): PromqlRefs {
  const labels = new Set<string>();
  let text = stripStringsAndComments(expr);
  // Label matchers: {name="", other=~""}.
  text = text.replace(/\{([^}]*)\}/g, (_m, body: string) => {
    for (const m of body.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.add(m[1]!);
    return ' ';
  });
  // Range and subquery durations, Grafana's $__rate_interval among them.
  text = text.replace(/\[[^\]]*\]/g, ' ');
  // Grouping and matching lists: by (a, b), ignoring (c), group_left (d).
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _kw: string, list: string) => {
    for (const name of list.split(',').map((s) => s.trim()).filter(Boolean)) labels.add(name);
    return ' ';
  });
  const metrics = new Set<string>();
  // A name is a whole identifier, not part of a number (1e9, 5m) or a $variable,
  // and not a function (followed by "(").
  for (const m of text.matchAll(/(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(m[1]!.toLowerCase())) metrics.add(m[1]!);
  }
  return { metrics, labels };
}

/** A Grafana query variable: label_values(selector, label) is PromQL plus one label. */
function variableRefs(query: string): PromqlRefs {
  const match = /^\s*label_values\((.*),\s*([A-Za-z_]\w*)\s*\)\s*$/s.exec(query);
  assert.ok(match, `query variable ${JSON.stringify(query)} should be label_values(selector, label)`);
  const refs = promqlRefs(match[1]!);
  refs.labels.add(match[2]!);
  return refs;
}

// ------------------------------------------------------------- dashboard

interface Target {
  readonly expr?: unknown;
  readonly datasource?: unknown;
}
interface Panel {
  readonly id?: unknown;
  readonly type?: unknown;
  readonly title?: unknown;
  readonly datasource?: unknown;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly query?: unknown;
}
interface Dashboard {
  readonly panels?: readonly Panel[];
  readonly templating?: { readonly list?: readonly Variable[] };
}

function isDatasourceVariable(ds: unknown): boolean {
  return typeof ds === 'object' && ds !== null && (ds as { uid?: unknown }).uid === '${datasource}';
}

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

interface Query {
  readonly where: string;
  readonly refs: PromqlRefs;
}

function dashboardQueries(dashboard: Dashboard): Query[] {
  const queries: Query[] = [];
  const panels = allPanels(dashboard.panels ?? []);
  assert.ok(panels.length > 0, 'the dashboard has panels');
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of panels) {
    if (panel.type === 'row') continue;
    assert.ok(isDatasourceVariable(panel.datasource), `panel "${String(panel.title)}" uses \${datasource}`);
    assert.ok((panel.targets ?? []).length > 0, `panel "${String(panel.title)}" has a query`);
    for (const target of panel.targets ?? []) {
      assert.ok(isDatasourceVariable(target.datasource), `a query of "${String(panel.title)}" uses \${datasource}`);
      assert.equal(typeof target.expr, 'string', `a query of "${String(panel.title)}" has an expr`);
      queries.push({ where: `panel "${String(panel.title)}"`, refs: promqlRefs(target.expr as string) });
    }
  }
  const variables = dashboard.templating?.list ?? [];
  const datasource = variables.find((v) => v.name === 'datasource');
  assert.equal(datasource?.type, 'datasource');
  assert.equal(datasource?.query, 'prometheus');
  assert.ok(variables.some((v) => v.name === 'instance' && v.type === 'query'), 'an instance variable');
  for (const variable of variables) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query?: unknown } | undefined)?.query;
    assert.equal(typeof query, 'string', `variable ${String(variable.name)} has a query`);
    queries.push({ where: `variable $${String(variable.name)}`, refs: variableRefs(query as string) });
  }
  return queries;
}

// ---------------------------------------------------------------- alerts

/**
 * The expr of every rule that is not commented out: `expr: one line`, or a
 * block scalar (`expr: |`, `>-`, ...) whose lines are indented deeper than
 * the key. Enough for the rules file we write; not a YAML parser.
 */
function ruleExprs(yaml: string): { alert: string; expr: string }[] {
  const lines = yaml.split('\n');
  const rules: { alert: string; expr: string }[] = [];
  let alert = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const named = /^\s*-\s*alert:\s*(\S+)\s*$/.exec(line);
    if (named) alert = named[1]!;
    const match = /^(\s*)(?:-\s*)?expr:\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const indent = match[1]!.length;
    let value = match[2]!;
    if (/^[|>][-+]?$/.test(value)) {
      const block: string[] = [];
      while (i + 1 < lines.length) {
        const next = lines[i + 1]!;
        if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
        block.push(next);
        i++;
      }
      value = block.join('\n');
    }
    rules.push({ alert, expr: value });
  }
  return rules;
}

function alertBlocks(yaml: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const parts = yaml.split(/^(?=[ \t]*-[ \t]*alert:)/m).slice(1);
  for (const part of parts) blocks.set(/alert:\s*(\S+)/.exec(part)![1]!, part);
  return blocks;
}

// ---------------------------------------------------------------- scrape

interface Family {
  readonly type: string;
  readonly labels: ReadonlySet<string>;
}

async function scrapeFamilies(edge: TestEdge): Promise<Map<string, Family>> {
  const res = await get(edge.adminUrl, '/metrics');
  assert.equal(res.status, 200);
  const families = new Map<string, Family>();
  for (const m of res.body.toString().matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    // A labelled counter that never moved has a TYPE line and no sample: its
    // label names come from the registry the scrape was rendered from.
    const metric: object | undefined = edge.edge.metrics.registry.getSingleMetric(m[1]!);
    const names = (metric as { labelNames?: unknown } | undefined)?.labelNames;
    const labels = Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
    families.set(m[1]!, { type: m[2]!, labels: new Set(labels) });
  }
  return families;
}

/** The problems with one query's names against the scrape; empty when none. */
function problems(query: Query, families: Map<string, Family>): string[] {
  const found: string[] = [];
  const known = new Set<string>(TARGET_LABELS);
  for (const name of query.refs.metrics) {
    const external = EXTERNAL[name];
    if (external) {
      for (const label of external) known.add(label);
      continue;
    }
    if (!name.startsWith('imgedge_')) {
      found.push(`${name}: not an imgedge_ metric, nor a known external one`);
      continue;
    }
    const family = families.get(name);
    if (family?.type === 'histogram' || family?.type === 'summary') {
      for (const label of family.labels) known.add(label);
      found.push(`${name}: a ${family.type} has no series under its base name; use _bucket, _sum or _count`);
      continue;
    }
    if (family) {
      for (const label of family.labels) known.add(label);
      continue;
    }
    const suffixed = HISTOGRAM_SUFFIX.exec(name);
    const base = suffixed ? families.get(suffixed[1]!) : undefined;
    if (base?.type === 'histogram' || (base?.type === 'summary' && suffixed![2] !== 'bucket')) {
      for (const label of base.labels) known.add(label);
      if (suffixed![2] === 'bucket' && base.type === 'histogram') known.add('le');
      continue;
    }
    found.push(`${name}: not in the edge's /metrics`);
  }
  for (const label of query.refs.labels) {
    if (!known.has(label)) found.push(`label ${label}: none of ${[...query.refs.metrics].join(', ')} has it`);
  }
  return found.map((p) => `${query.where}: ${p}`);
}

// ----------------------------------------------------------------- tests

let origin: TestOrigin;
let edge: TestEdge;
let families: Map<string, Family>;

before(async () => {
  origin = await TestOrigin.start();
  edge = await startTestEdge(origin.url);
  origin.set('/dash/a.jpg', { body: bytes(2000, 'dashboard') });
  assert.equal((await get(edge.url, '/dash/a.jpg')).status, 200);
  assert.equal((await get(edge.url, '/dash/a.jpg')).status, 200);
  families = await scrapeFamilies(edge);
});

after(async () => {
  await edge?.close();
  await origin?.stop();
});

test('promqlRefs finds metric and label names, not functions, keywords, numbers or variables', () => {
  const refs = promqlRefs(
    'histogram_quantile(0.99, sum by (le, cache_status) (rate(imgedge_request_duration_seconds_bucket{job=~"$job", cache_status!="a b{c}"}[$__rate_interval] offset 1d)))' +
      ' / ignoring (status_class) group_left () (x_total or vector(0)) > bool 1e3 and on (job) up # imgedge_in_a_comment',
  );
  assert.deepEqual([...refs.metrics].sort(), ['imgedge_request_duration_seconds_bucket', 'up', 'x_total']);
  assert.deepEqual([...refs.labels].sort(), ['cache_status', 'job', 'le', 'status_class']);
});

test('ruleExprs reads one-line and block exprs and skips commented-out rules', () => {
  const yaml = [
    'groups:',
    '  - name: g',
    '    rules:',
    '      - alert: One',
    '        expr: up == 0',
    '        for: 5m',
    '      - alert: Two',
    '        expr: |',
    '          sum(rate(a_total[5m]))',
    '',
    '            > 1',
    '        labels: {}',
    '      # - alert: Three',
    '      #   expr: later_metric > 1',
  ].join('\n');
  assert.deepEqual(ruleExprs(yaml), [
    { alert: 'One', expr: 'up == 0' },
    { alert: 'Two', expr: '          sum(rate(a_total[5m]))\n\n            > 1' },
  ]);
});

test('every metric and label the dashboard queries is exported by a running edge', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const queries = dashboardQueries(dashboard);
  const used = new Set(queries.flatMap((q) => [...q.refs.metrics]));
  assert.ok(used.has('imgedge_request_duration_seconds_bucket') && used.has('imgedge_cache_max_bytes'), 'the queries were read');
  assert.deepEqual(queries.flatMap((q) => problems(q, families)), []);
});

test('every metric and label the alert rules use is exported by a running edge', () => {
  const yaml = fs.readFileSync(ALERTS, 'utf8');
  const rules = ruleExprs(yaml);
  const blocks = alertBlocks(yaml);
  assert.ok(rules.length >= 6, 'the rules were read');
  assert.deepEqual(rules.map((r) => r.alert), [...blocks.keys()], 'one expr per alert');
  for (const [alert, block] of blocks) {
    for (const key of ['expr:', 'labels:', 'severity:', 'summary:', 'description:']) assert.ok(block.includes(key), `${alert} has ${key}`);
  }
  assert.deepEqual(rules.flatMap((r) => problems({ where: r.alert, refs: promqlRefs(r.expr) }, families)), []);

  // The change-log rule waits, commented out, for its metric.
  const live = new Set(rules.flatMap((r) => [...promqlRefs(r.expr).metrics]));
  if (families.has('imgedge_changelog_lag_seconds')) {
    assert.ok(live.has('imgedge_changelog_lag_seconds'), 'the edge exports imgedge_changelog_lag_seconds: uncomment ImgedgeChangelogLag');
  } else {
    assert.match(yaml, /^\s*#.*imgedge_changelog_lag_seconds/m, 'the change-log lag rule is kept, commented out');
  }
});
