// compare on reports that agree and on reports that disagree: other models, a failed
// run (a folder without report.json), an interrupted run, older/newer/missing schema
// versions, a file that is not JSON, a path that does not exist; and the CLI end to end.
import {execa} from 'execa';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {beforeAll, describe, expect, it} from 'vitest';
import {CompareInputError, compareReports, renderCompareHtml, renderCompareText, reportProblem} from '../source/core/report/compare.js';
import type {Report} from '../source/core/report/outputs.js';
import {parseCommand} from '../source/options.js';
import {report} from './helpers/report-fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-compare-'));

function save(name: string, value: unknown): string {
	const dir = path.join(tmp, name);
	mkdirSync(dir, {recursive: true});
	writeFileSync(path.join(dir, 'report.json'), typeof value === 'string' ? value : JSON.stringify(value));
	return dir;
}

// Three machines, one model: c7g (table price), c8g (priced with the flag), and a box
// with no DMI data (price unknown) that is the fastest of the three.
const c7g = save('c7g', report({scale: 1, detection: {cloud: {provider: 'aws', instanceType: 'c7g.xlarge'}}}));
const c8g = save('c8g', report({scale: 1.5, detection: {cloud: {provider: 'aws', instanceType: 'c8g.xlarge'}}}));
const lab = save('lab', report({scale: 3, detection: {cloud: {provider: null, instanceType: null}}}));

describe('compare: reports that agree', () => {
	it('sorts by cost per million where known, then by samples/s', async () => {
		const c = await compareReports([lab, c7g, c8g]);
		expect(c.rows.map((r) => path.basename(r.source))).toEqual(['c8g', 'c7g', 'lab']);
		// c8g: 1.5x the throughput at 0.15952 vs 0.145 $/h → cheaper per inference.
		expect(c.rows[0]!.costPerMillion!).toBeLessThan(c.rows[1]!.costPerMillion!);
		expect(c.rows[2]!.costPerMillion).toBeNull();
		expect(c.rows[0]!.instanceType).toBe('c8g.xlarge');
		expect(c.rows[0]!.cpu).toBe('AWS Graviton3, 4 CPUs');
		expect(c.rows[0]!.winner).toBe('batch 4, 1 worker x 4 threads, libtcmalloc.so.4');
		// The verified figure, not the walk's.
		expect(c.rows[1]!.samplesPerSecond).toBe(33);
		expect(c.rows[1]!.check).toBe('cosine 1.0000, top-1 100%');
		expect(c.notes.join('\n')).toMatch(/Cost unknown for .*lab: the instance type is not known/);
		expect(c.priceSources).toHaveLength(1);
		expect(c.priceSources[0]).toMatch(/^c8g\.xlarge \$0\.160\/h, c7g\.xlarge \$0\.145\/h: AWS On-Demand, Linux.*us-east-1, prices of 2026-01-19/);
		const text = renderCompareText(c);
		expect(text.split('\n')[0]).toMatch(/^#\s+machine\s+instance\s+CPU\s+model\s+\$\/M\s+throughput\s+first token\s+p99 ms\s+check\s+winner$/);
		expect(text).toMatch(/ 33\.0 samples\/s\s+—\s+128\.0 /);
		expect(text).toContain('unknown');
	});

	it('without any price, sorts by samples/s, fastest first', async () => {
		const a = save('slow', report({scale: 1, detection: {cloud: {provider: null, instanceType: null}}}));
		const b = save('fast', report({scale: 2, detection: {cloud: {provider: null, instanceType: null}}}));
		const c = await compareReports([a, b]);
		expect(c.rows.map((r) => path.basename(r.source))).toEqual(['fast', 'slow']);
	});

	it('an older schema-1 report without a cost field gets one from the price table', async () => {
		const old = report() as Partial<Report>;
		delete old.cost;
		const dir = save('old-c7g', old);
		const c = await compareReports([dir]);
		expect(c.rows[0]!.cost).toMatchObject({known: true, price: {instanceType: 'c7g.xlarge', perHour: 0.145}});
	});
});

describe('compare: reports that disagree', () => {
	it('a generating run is a group of its own, in tokens/s with its first token', async () => {
		const llama = report({model: {path: '/models/tiny-llama', task: 'generate'}, detection: {cloud: {provider: 'aws', instanceType: 'c7g.xlarge'}}});
		const gen = (r: Report['baseline']['result']) => ({...r, generation: {promptTokens: 128, newTokens: 64, sequences: r.batchSize, ttftMs: {p50: 52.5, p99: 70}, interTokenMs: {p50: 9, p99: 14}, decodeTokensPerSecond: {perSequence: r.samplesPerSecond.median / r.batchSize, total: r.samplesPerSecond.median}, endToEndTokensPerSecond: r.samplesPerSecond.median}});
		const tokens = save('llama', {...llama, cost: undefined, best: {...llama.best, result: gen(llama.best.result)}, verification: {...llama.verification!, baseline: gen(llama.verification!.baseline), best: gen(llama.verification!.best)}} as Report);
		const c = await compareReports([c7g, tokens]);
		const row = c.rows.find((r) => r.model === 'tiny-llama (generating)')!;
		expect(row.unit).toBe('tokens/s');
		expect(row.ttftMs).toBe(52.5);
		expect(row.cost).toMatchObject({known: true, unit: 'tokens'});
		expect(c.rows.find((r) => r.model === 'resnet50')!.unit).toBe('samples/s');
		const text = renderCompareText(c);
		expect(text).toMatch(/33\.0 tokens\/s\s+52\.5 ms/);
		expect(renderCompareHtml(c)).toContain('Cost per million tokens, tiny-llama (generating)');
	});

	it('different models are grouped and said not to compare', async () => {
		const bert = save('bert', report({model: {name: 'bert_base'}, scale: 0.5}));
		const c = await compareReports([c7g, bert, c8g]);
		expect(c.rows.map((r) => r.model)).toEqual(['bert_base', 'resnet50', 'resnet50']);
		expect(c.notes[0]).toMatch(/different models \(bert_base, resnet50\).*compare only within a model/);
	});

	it('a failed run (folder without report.json) and a file that is not JSON are not compared, with the reason', async () => {
		const failed = path.join(tmp, 'failed-run');
		mkdirSync(failed, {recursive: true});
		const garbage = save('garbage', '{"schemaVersion": 1, "best": ');
		const c = await compareReports([c7g, failed, garbage]);
		expect(c.rows).toHaveLength(1);
		expect(c.notCompared).toEqual([
			{source: failed, reason: expect.stringContaining('no report.json in this folder: the run there failed or was interrupted')},
			{source: garbage, reason: expect.stringContaining('is not valid JSON')},
		]);
		expect(renderCompareText(c)).toMatch(/not compared: .*failed-run: no report\.json/);
	});

	it('older, newer and missing schema versions get a clear message', () => {
		const good = report();
		expect(reportProblem(good)).toBeNull();
		expect(reportProblem({...good, schemaVersion: 0})).toMatch(/schemaVersion 0 is older than this graviton-tune reads \(1\)/);
		expect(reportProblem({...good, schemaVersion: 2})).toMatch(/newer graviton-tune \(schemaVersion 2; this one reads 1\): upgrade/);
		const {schemaVersion: _v, ...noVersion} = good;
		expect(reportProblem(noVersion)).toMatch(/without a schemaVersion/);
		expect(reportProblem({hello: 'world'})).toMatch(/not a graviton-tune report/);
		expect(reportProblem([1, 2])).toMatch(/not a JSON object/);
		expect(reportProblem({...good, best: {...good.best, result: null}})).toMatch(/no winner figures/);
		expect(reportProblem({...good, machine: {}})).toMatch(/no machine description/);
		expect(reportProblem({...good, model: null})).toMatch(/does not name its model/);
	});

	it('an interrupted or unverified run is compared with a note', async () => {
		const cut = save('cut', report({interrupted: true, verified: false}));
		const c = await compareReports([cut, c7g]);
		expect(c.rows).toHaveLength(2);
		expect(c.notes.join('\n')).toMatch(/Interrupted walks .*cut/);
		expect(c.notes.join('\n')).toMatch(/not verified back to back .*cut/);
	});

	it('a path that does not exist is the user\'s mistake, not a failed run', async () => {
		await expect(compareReports([c7g, path.join(tmp, 'nope')])).rejects.toThrow(CompareInputError);
	});

	it('the page escapes what it shows', async () => {
		const hostile = save('x<script>alert(1)<', report({model: {path: '/m/<img src=x onerror=alert(1)>.pt'}}));
		const html = renderCompareHtml(await compareReports([hostile]));
		expect(html).not.toMatch(/<script|<img/);
		expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;.pt');
	});
});

describe('compare: a fleet folder, one subfolder per host', () => {
	// As Ansible's fetch or `aws s3 sync` leaves it: two c7g hosts, one c8g, a host whose
	// run failed (no report), and a hidden folder that is nobody's host.
	const fleet = path.join(tmp, 'fleet');
	save('fleet/c7g-a', report({scale: 1, detection: {cloud: {provider: 'aws', instanceType: 'c7g.xlarge'}}}));
	save('fleet/c7g-b', report({scale: 1.2, detection: {cloud: {provider: 'aws', instanceType: 'c7g.xlarge'}}}));
	save('fleet/c8g-a', report({scale: 1.5, detection: {cloud: {provider: 'aws', instanceType: 'c8g.xlarge'}}}));
	mkdirSync(path.join(fleet, 'failed-host'), {recursive: true});
	mkdirSync(path.join(fleet, '.cache'), {recursive: true});

	it('reads every host folder, names the failed one, and ranks instance types by cost per million', async () => {
		const c = await compareReports([fleet]);
		expect(c.rows.map((r) => path.basename(r.source))).toEqual(['c8g-a', 'c7g-b', 'c7g-a']);
		expect(c.notCompared).toEqual([{source: path.join(fleet, 'failed-host'), reason: expect.stringContaining('no report.json in this folder')}]);
		expect(c.instanceTypes.map((r) => [r.instanceType, r.runs.map((s) => path.basename(s))])).toEqual([
			['c8g.xlarge', ['c8g-a']],
			['c7g.xlarge', ['c7g-b', 'c7g-a']],
		]);
		// A type's figure is the median over its hosts: of two, their mean.
		const [b, a] = [c.rows[1]!, c.rows[2]!];
		expect(c.instanceTypes[1]!.costPerMillion).toBeCloseTo((a.costPerMillion! + b.costPerMillion!) / 2, 10);
		expect(c.instanceTypes[1]!.samplesPerSecond).toBeCloseTo((a.samplesPerSecond + b.samplesPerSecond) / 2, 10);
		const text = renderCompareText(c);
		expect(text).toMatch(/Instance types by cost per million inferences, cheapest first/);
		expect(text).toMatch(/^1\s+c8g\.xlarge\s+resnet50\s+1\s+\$0\.895\s+49\.5 samples\/s$/m);
		expect(text).toMatch(/^2\s+c7g\.xlarge\s+resnet50\s+2\s+\$\d+\.\d+\s+36\.3 samples\/s$/m);
		expect(renderCompareHtml(c)).toContain('<section id="instance-types">');
	});

	it('a run without an instance type stands alone, ranked after the priced ones; with none known there is no ranking', async () => {
		const c = await compareReports([fleet, lab]);
		expect(c.instanceTypes.map((r) => r.instanceType)).toEqual(['c8g.xlarge', 'c7g.xlarge', null]);
		expect(c.instanceTypes[2]!.runs).toEqual([lab]);
		expect(renderCompareText(c)).toMatch(/^3\s+— \(\S*lab\)\s+resnet50\s+1\s+unknown\s+99\.0 samples\/s$/m);
		const unpriced = await compareReports([lab]);
		expect(renderCompareText(unpriced)).not.toMatch(/Instance types/);
		expect(renderCompareHtml(unpriced)).not.toContain('instance-types');
	});

	it('a folder with its own report.json is one run, not a fleet; an empty folder is a failed run', async () => {
		const c = await compareReports([c7g]);
		expect(c.rows.map((r) => r.source)).toEqual([c7g]);
		const empty = path.join(tmp, 'empty-fleet');
		mkdirSync(empty, {recursive: true});
		expect((await compareReports([empty, c7g])).notCompared).toEqual([{source: empty, reason: expect.stringContaining('no report.json')}]);
	});

	it('on the command line: compare FLEET, and --json carries the ranking', async () => {
		if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
		const run = await execa('node', [cli, 'compare', fleet], {reject: false});
		expect(run.exitCode, run.stderr).toBe(0);
		expect(run.stdout).toMatch(/not compared: \S*failed-host: no report\.json/);
		const json = await execa('node', [cli, 'compare', fleet, '--json'], {reject: false});
		const parsed = JSON.parse(json.stdout) as {instanceTypes: Array<{instanceType: string; runs: string[]}>};
		expect(parsed.instanceTypes.map((r) => r.instanceType)).toEqual(['c8g.xlarge', 'c7g.xlarge']);
	});
});

describe('compare: command line', () => {
	beforeAll(async () => {
		if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
	});

	it('parses several reports and --html', () => {
		expect(parseCommand(['compare', 'a', 'b/report.json', '--html', 'x.html'])).toEqual({kind: 'compare', reports: ['a', 'b/report.json'], html: 'x.html', json: false});
		expect(() => parseCommand(['compare'])).toThrow(/name at least one report\.json or output folder/);
		expect(() => parseCommand(['compare', 'a', '--budget', '1m'])).toThrow(/--budget does not apply to `graviton-tune compare`/);
		expect(() => parseCommand(['detect', 'extra'])).toThrow(/unexpected argument: extra/);
	});

	it('prints the table and writes the page; --json gives the rows', async () => {
		const html = path.join(tmp, 'pages', 'fleet.html');
		const run = await execa('node', [cli, 'compare', c7g, path.join(c8g, 'report.json'), lab, '--html', html], {reject: false});
		expect(run.exitCode, run.stderr).toBe(0);
		expect(run.stdout.split('\n')[2]).toMatch(/^1\s+\S*c8g\s+c8g\.xlarge\s+AWS Graviton3, 4 CPUs\s+resnet50\s+\$0\.895\s+49\.5 samples\/s\s+—\s+128\.0\s+cosine 1\.0000, top-1 100%\s+batch 4, 1 worker x 4 threads, libtcmalloc\.so\.4$/);
		expect(run.stderr).toContain(`Wrote ${html}`);
		expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/);
		const json = await execa('node', [cli, 'compare', c7g, lab, '--json'], {reject: false});
		const parsed = JSON.parse(json.stdout) as {type: string; rows: Array<{samplesPerSecond: number}>};
		expect(parsed.type).toBe('compare');
		expect(parsed.rows.map((r) => r.samplesPerSecond)).toEqual([33, 99]);
	});

	it('bad input: a clear message, exit 2, no page written', async () => {
		const html = path.join(tmp, 'never.html');
		const missing = await execa('node', [cli, 'compare', c7g, path.join(tmp, 'missing'), '--html', html], {reject: false});
		expect(missing.exitCode).toBe(2);
		expect(missing.stderr).toMatch(/^graviton-tune compare: .*missing: no such file or folder$/m);
		expect(missing.stderr).not.toMatch(/\n\s+at /);
		const failed = path.join(tmp, 'failed-only');
		mkdirSync(failed, {recursive: true});
		const none = await execa('node', [cli, 'compare', failed, '--html', html], {reject: false});
		expect(none.exitCode).toBe(2);
		expect(none.stderr).toMatch(/none of these reports could be compared; nothing written/);
		expect(existsSync(html)).toBe(false);
	});
});
