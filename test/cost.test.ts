// Cost per million inferences: the arithmetic, where the price comes from, and that an
// unknown price stays unknown.
import {describe, expect, it} from 'vitest';
import {costPerMillion, defaultPriceTable, describeCost, findPrice, formatMoney, runCost} from '../source/core/report/cost.js';
import type {PriceTable} from '../source/core/report/cost.js';
import {headlineFigures} from '../source/core/report/headline.js';
import {parseCommand, UsageError} from '../source/options.js';
import {report, walk} from './helpers/report-fixture.js';

const table: PriceTable = {provider: 'aws', region: 'us-east-1', date: '2026-01-19', currency: 'USD', terms: 'On-Demand, Linux', source: 'test table', prices: {'c7g.xlarge': 0.145}};

describe('costPerMillion', () => {
	it('is the hourly price over the inferences an hour holds, times a million', () => {
		// 0.145 $/h at 100 samples/s: 360 000 inferences an hour → $0.4028 per million.
		expect(costPerMillion(100, 0.145)).toBeCloseTo(0.145 / 360_000 * 1e6, 10);
		expect(costPerMillion(100, 0.145)).toBeCloseTo(0.40278, 4);
		// Twice as fast, half the cost; twice the price, twice the cost.
		expect(costPerMillion(200, 0.145)).toBeCloseTo(costPerMillion(100, 0.145) / 2, 12);
		expect(costPerMillion(100, 0.29)).toBeCloseTo(costPerMillion(100, 0.145) * 2, 12);
		expect(costPerMillion(1, 3.6)).toBeCloseTo(1000, 9);
	});

	it('refuses a throughput of zero rather than printing Infinity', () => {
		expect(() => costPerMillion(0, 0.145)).toThrow(RangeError);
		expect(() => costPerMillion(Number.NaN, 0.145)).toThrow(RangeError);
	});
});

describe('findPrice', () => {
	it('--price-per-hour wins over the table and says so', () => {
		const lookup = findPrice({provider: 'aws', instanceType: 'c7g.xlarge'}, 0.2, table);
		expect(lookup).toMatchObject({known: true, price: {perHour: 0.2, origin: 'flag', source: 'given with --price-per-hour'}});
	});

	it('a listed instance type gets its price, with the source, region and date', () => {
		const lookup = findPrice({provider: 'aws', instanceType: 'c7g.xlarge'}, null, table);
		expect(lookup.known).toBe(true);
		if (!lookup.known) return;
		expect(lookup.price.perHour).toBe(0.145);
		expect(lookup.price.source).toContain('us-east-1');
		expect(lookup.price.source).toContain('2026-01-19');
		expect(lookup.price.source).toContain('test table');
	});

	it('an unknown type, another provider or no DMI data is left unknown, never guessed', () => {
		expect(findPrice({provider: 'aws', instanceType: 'c7g.3xlarge'}, null, table)).toMatchObject({known: false, reason: expect.stringContaining('no shipped price for c7g.3xlarge')});
		expect(findPrice({provider: 'gcp', instanceType: 'c7g.xlarge'}, null, table).known).toBe(false);
		expect(findPrice({provider: null, instanceType: null}, null, table)).toMatchObject({known: false, reason: expect.stringContaining('--price-per-hour')});
	});
});

describe('the shipped price table', () => {
	it('says its source, region and date, and every price is a positive number', () => {
		const shipped = defaultPriceTable();
		expect(shipped.source).toMatch(/karpenter|Price List/);
		expect(shipped.region).toBe('us-east-1');
		expect(shipped.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
		expect(Object.keys(shipped.prices).length).toBeGreaterThan(20);
		for (const [type, price] of Object.entries(shipped.prices)) {
			expect(type).toMatch(/^[a-z0-9-]+\.[a-z0-9-]+$/);
			expect(price).toBeGreaterThan(0);
		}
		// Graviton and x86 both covered.
		expect(shipped.prices['c7g.xlarge']).toBe(0.145);
		expect(shipped.prices['c7i.xlarge']).toBe(0.1785);
	});
});

describe('runCost', () => {
	it('costs baseline and winner from the verified figures when there are some', () => {
		const result = walk({verified: true});
		const cost = runCost(headlineFigures(result), findPrice({provider: 'aws', instanceType: 'c7g.xlarge'}, null, table));
		expect(cost.known).toBe(true);
		if (!cost.known) return;
		expect(cost.winnerPerMillion).toBeCloseTo(costPerMillion(result.verification!.best.samplesPerSecond.median, 0.145), 12);
		expect(cost.baselinePerMillion).toBeCloseTo(costPerMillion(result.verification!.baseline.samplesPerSecond.median, 0.145), 12);
		// The cost ratio is the inverse of the verified speedup.
		expect(cost.baselinePerMillion / cost.winnerPerMillion).toBeCloseTo(result.verification!.speedup, 9);
	});

	it("uses the walk's own figures when the winner was not verified", () => {
		const result = walk({verified: false});
		const cost = runCost(headlineFigures(result), {known: true, price: {perHour: 1, currency: 'USD', origin: 'flag', instanceType: null, source: 'flag'}});
		if (!cost.known) throw new Error('expected a cost');
		expect(cost.winnerPerMillion).toBeCloseTo(costPerMillion(result.best.result.samplesPerSecond.median, 1), 12);
	});

	it('report.json carries the cost, and an unknown one says why', () => {
		expect(report().cost).toMatchObject({known: true, price: {instanceType: 'c7g.xlarge', perHour: 0.145, origin: 'table'}});
		expect(report({detection: {cloud: {provider: null, instanceType: null}}}).cost).toMatchObject({known: false});
		expect(report({detection: {cloud: {provider: null, instanceType: null}}, pricePerHour: 0.5}).cost).toMatchObject({known: true, price: {perHour: 0.5, origin: 'flag'}});
	});
});

describe('wording', () => {
	it('formats money with three significant figures below a dollar', () => {
		expect(formatMoney(0.040277)).toBe('$0.0403');
		expect(formatMoney(1.2345)).toBe('$1.23');
		expect(formatMoney(1234.5)).toBe('$1235');
		expect(describeCost({known: false, reason: 'no price'})).toBe('cost per million inferences unknown: no price');
	});
});

describe('--price-per-hour', () => {
	it('is a positive number for tuning only', () => {
		expect(parseCommand(['--auto', '--price-per-hour', '0.145'])).toMatchObject({tune: {pricePerHour: 0.145}});
		expect(parseCommand(['--auto'])).toMatchObject({tune: {pricePerHour: null}});
		expect(() => parseCommand(['--auto', '--price-per-hour', '-1'])).toThrow(UsageError);
		expect(() => parseCommand(['--auto', '--price-per-hour', 'cheap'])).toThrow(/--price-per-hour cheap: expected a positive number/);
		expect(() => parseCommand(['detect', '--price-per-hour', '1'])).toThrow(/does not apply to `graviton-tune detect`/);
	});
});
