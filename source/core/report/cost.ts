// What a million inferences cost: the instance's hourly price (given with
// --price-per-hour, or looked up by the DMI instance type in a shipped table that says
// its source, region and date) divided by the samples per hour measured. A price that
// is not known stays unknown: nothing is guessed from a similar type or another region.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {packageRoot} from '../paths.js';
import type {Headline} from './headline.js';
import type {Detection} from '../types.js';

export interface PriceTable {
	provider: string;
	region: string;
	/** When the prices were taken (YYYY-MM-DD). */
	date: string;
	currency: string;
	terms: string;
	source: string;
	note?: string;
	prices: Record<string, number>;
}

export interface Price {
	perHour: number;
	currency: string;
	origin: 'flag' | 'table';
	instanceType: string | null;
	/** Where the figure comes from, in words, for every page that shows a cost. */
	source: string;
}

export type PriceLookup = {known: true; price: Price} | {known: false; reason: string};

/** What a million of is priced: inferences (samples through one forward pass) or generated tokens. Absent in reports written before generation: inferences. */
export type CostUnit = 'inferences' | 'tokens';

export type RunCost =
	| {known: true; price: Price; baselinePerMillion: number; winnerPerMillion: number; unit?: CostUnit}
	| {known: false; reason: string; unit?: CostUnit};

export const PRICE_TABLE_FILE = path.join(packageRoot, 'data', 'prices', 'aws-us-east-1.json');

let cached: PriceTable | null = null;

/** The shipped table (read once). */
export function defaultPriceTable(): PriceTable {
	cached ??= JSON.parse(readFileSync(PRICE_TABLE_FILE, 'utf8')) as PriceTable;
	return cached;
}

/** One line naming where a table's prices come from: terms, region, date, source. */
export function describeTable(table: PriceTable): string {
	return `${table.provider.toUpperCase()} ${table.terms}, ${table.region}, prices of ${table.date} (${table.source})`;
}

/**
 * The hourly price to use: --price-per-hour wins; else the instance type in the table of
 * the same provider; else unknown, with the reason and what to pass instead.
 */
export function findPrice(cloud: Detection['cloud'], pricePerHour: number | null | undefined, table: PriceTable = defaultPriceTable()): PriceLookup {
	if (pricePerHour !== null && pricePerHour !== undefined) {
		return {known: true, price: {perHour: pricePerHour, currency: table.currency, origin: 'flag', instanceType: cloud.instanceType, source: 'given with --price-per-hour'}};
	}
	if (!cloud.instanceType) return {known: false, reason: 'the instance type is not known (no cloud DMI data); pass --price-per-hour when tuning'};
	const perHour = cloud.provider === table.provider ? table.prices[cloud.instanceType] : undefined;
	if (perHour === undefined) {
		return {known: false, reason: `no shipped price for ${cloud.instanceType} (the table covers common ${table.provider.toUpperCase()} types in ${table.region}); pass --price-per-hour when tuning`};
	}
	return {known: true, price: {perHour, currency: table.currency, origin: 'table', instanceType: cloud.instanceType, source: describeTable(table)}};
}

/** Cost of one million inferences at `samplesPerSecond` on a machine billed `perHour`. */
export function costPerMillion(samplesPerSecond: number, perHour: number): number {
	if (!(samplesPerSecond > 0) || !(perHour >= 0)) throw new RangeError(`cannot cost ${samplesPerSecond} samples/s at ${perHour}/h`);
	return (perHour / (samplesPerSecond * 3600)) * 1e6;
}

/** Baseline and winner cost per million from the run's headline figures. */
export function runCost(headline: Headline, lookup: PriceLookup): RunCost {
	// A generating run's figure is decode tokens/s: its cost is per million generated tokens.
	const unit: CostUnit = headline.best.generation ? 'tokens' : 'inferences';
	if (!lookup.known) return {...lookup, unit};
	const {price} = lookup;
	return {
		known: true,
		unit,
		price,
		baselinePerMillion: costPerMillion(headline.baseline.samplesPerSecond.median, price.perHour),
		winnerPerMillion: costPerMillion(headline.best.samplesPerSecond.median, price.perHour),
	};
}

/** "$0.0123", "$1.23", "$123": three significant figures below a dollar, cents above. */
export function formatMoney(amount: number, currency = 'USD'): string {
	const symbol = currency === 'USD' ? '$' : `${currency} `;
	if (amount >= 100) return `${symbol}${amount.toFixed(0)}`;
	if (amount >= 1) return `${symbol}${amount.toFixed(2)}`;
	return `${symbol}${amount.toPrecision(3)}`;
}

/**
 * "$0.0417 per million inferences (baseline $0.219) at $0.145/h for c7g.xlarge, <source>";
 * or why it is unknown. Without the source for a narrow screen.
 */
export function describeCost(cost: RunCost, opts: {source?: boolean} = {}): string {
	const unit = cost.unit ?? 'inferences';
	if (!cost.known) return `cost per million ${unit} unknown: ${cost.reason}`;
	const {price} = cost;
	const source = opts.source === false ? (price.origin === 'flag' ? ' (--price-per-hour)' : '') : `, ${price.source}`;
	return `${formatMoney(cost.winnerPerMillion, price.currency)} per million ${unit} (baseline ${formatMoney(cost.baselinePerMillion, price.currency)}) at ${formatMoney(price.perHour, price.currency)}/h${price.instanceType ? ` for ${price.instanceType}` : ''}${source}`;
}
