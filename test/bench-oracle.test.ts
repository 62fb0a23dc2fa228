// The bench's oracle target: the walk winner's share rests on the side-by-side ratios of the
// combinations that were confirmed, and on the single figures of the rest.
import {describe, expect, it} from 'vitest';
import {baselineCandidate} from '../source/core/walk/candidates.js';
import type {Candidate} from '../source/core/types.js';
import {oracleShare} from '../source/bench/walks.js';
import type {OracleRun} from '../source/bench/walks.js';

const at = (batchSize: number): Candidate => {
	const c = baselineCandidate({name: 'toy'}, 2, [0, 1]);
	return {...c, config: {...c.config, batchSize}};
};

function run(measured: Array<[number, number | null]>, confirmed: Array<[number, number]>): OracleRun {
	const list = measured.map(([batch, sps]) => ({candidate: at(batch), samplesPerSecond: sps}));
	const best = list.filter(m => m.samplesPerSecond !== null).sort((a, b) => b.samplesPerSecond! - a.samplesPerSecond!)[0]!;
	return {
		model: {name: 'toy'},
		walk: {} as OracleRun['walk'],
		measured: list,
		possible: 400,
		oracle: {candidate: best.candidate, samplesPerSecond: best.samplesPerSecond!},
		winnerFigure: 100,
		confirmed: confirmed.map(([batch, ratio]) => ({candidate: at(batch), single: list.find(m => m.candidate.config.batchSize === batch)!.samplesPerSecond!, ratio, low: ratio - 0.02, high: ratio + 0.02, how: 'paired, 8 pairs'})),
	};
}

describe('the walk winner against the oracle', () => {
	it('a single figure picked as the best of many is replaced by its side-by-side ratio', () => {
		// 106 alone would read 94.3%; side by side the combination is 2% slower than the winner.
		expect(oracleShare(run([[32, 106], [16, 90], [1, 20]], [[32, 0.98]]))).toBeCloseTo(1 / 0.98, 6);
	});

	it('a confirmed combination that really is faster sets the share', () => {
		expect(oracleShare(run([[32, 106], [16, 90]], [[32, 1.08]]))).toBeCloseTo(1 / 1.08, 6);
	});

	it('an unconfirmed combination still counts by its single figure', () => {
		// The confirmation of batch 16 failed (not in the list): its single figure stands.
		expect(oracleShare(run([[32, 106], [16, 110]], [[32, 0.98]]))).toBeCloseTo(100 / 110, 6);
	});

	it('no oracle, no share', () => {
		const r = run([[32, 106]], []);
		expect(oracleShare({...r, oracle: null})).toBeNull();
		expect(oracleShare({...r, winnerFigure: null})).toBeNull();
	});
});
