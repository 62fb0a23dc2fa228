// What really ran, in words (pure): a probe's kernel account (KernelAccount, collected by
// probes/graviton_tune_probe/kernels.py after the timed calls) summarised by family and
// precision, and held against what a configuration's name promises (the contract's
// `promises`: int8, int4, bf16). A step whose compute did not mostly run in the precision
// it is named for is named for what ran; one where none of it did changes nothing it claims.
import type {KernelAccount, KernelGroup} from '../types.js';

/** A promise counts as kept when at least this share of the compute ran in its precision. */
export const NAMED_SHARE = 0.5;
/** Below this share nothing of the promise happened (a rounding's worth of stray kernels). */
export const NONE_SHARE = 0.01;

const FAMILY: Record<string, [string, string]> = {
	convolution: ['convolution', 'convolutions'],
	matmul: ['matmul', 'matmuls'],
	attention: ['attention', 'attentions'],
};

/** Shares by time where the runtime timed every group, else by count (OpenVINO's runtime model). */
export function timed(account: KernelAccount): boolean {
	return account.groups.length > 0 && account.groups.every(g => g.seconds !== undefined);
}

function weigher(account: KernelAccount): (g: KernelGroup) => number {
	return timed(account) ? g => g.seconds ?? 0 : g => g.count;
}

/** Each precision's share of the compute, largest first. */
export function precisionShares(account: KernelAccount): Array<{precision: string; share: number}> {
	const weight = weigher(account);
	const total = account.groups.reduce((sum, g) => sum + weight(g), 0);
	if (total <= 0) return [];
	const by = new Map<string, number>();
	for (const g of account.groups) by.set(g.precision, (by.get(g.precision) ?? 0) + weight(g));
	return [...by].map(([precision, w]) => ({precision, share: w / total})).sort((a, b) => b.share - a.share);
}

function plural(family: string, n: number): string {
	const words = FAMILY[family] ?? [family, `${family}s`];
	return n === 1 ? words[0] : words[1];
}

/**
 * "convolutions: 20 of 20 int8 (brg_conv_fwd:avx512_core_vnni, brgconv_1x1:avx512_core_vnni); matmuls: 1 of 1 int8 (brg_matmul:avx512_core_vnni)".
 * Per family, heaviest first; per precision its count and its kernels; math asked but not done is said.
 */
export function kernelSummary(account: KernelAccount): string {
	const weight = weigher(account);
	const families = new Map<string, KernelGroup[]>();
	for (const g of account.groups) families.set(g.family, [...(families.get(g.family) ?? []), g]);
	const heaviest = (gs: KernelGroup[]) => gs.reduce((sum, g) => sum + weight(g), 0);
	const parts = [...families].sort((a, b) => heaviest(b[1]) - heaviest(a[1])).map(([family, groups]) => {
		const total = groups.reduce((sum, g) => sum + g.count, 0);
		const precisions = new Map<string, KernelGroup[]>();
		for (const g of groups) precisions.set(g.precision, [...(precisions.get(g.precision) ?? []), g]);
		const said = [...precisions].sort((a, b) => heaviest(b[1]) - heaviest(a[1])).map(([precision, gs]) => {
			const n = gs.reduce((sum, g) => sum + g.count, 0);
			const kernels = [...gs].sort((a, b) => weight(b) - weight(a)).map(g => g.kernel);
			const shown = kernels.slice(0, 2).join(', ') + (kernels.length > 2 ? `, +${kernels.length - 2}` : '');
			const asked = gs.find(g => g.asked && g.asked !== precision);
			return `${n} of ${total} ${precision}${asked ? ` (${asked.asked} math asked, not done)` : ''} (${shown})`;
		});
		return `${plural(family, total)}: ${said.join(', ')}`;
	});
	return parts.join('; ') || 'no convolution, matmul or attention ran';
}

/** "int8 100%", "int8 38%, fp16 62%": the precisions' shares in a few characters. */
export function sharesText(account: KernelAccount): string {
	return precisionShares(account).map(p => `${p.precision} ${Math.round(p.share * 100)}%`).join(', ');
}

export interface Shortfall {
	/** The precision the name promises. */
	promised: string;
	/** Its share of the compute (0-1). */
	share: number;
	/** Nothing of it ran (share below NONE_SHARE). */
	none: boolean;
	/** "38% of compute ran int8, the rest fp16" or "no bf16 kernel ran: fp32 (bf16 math asked, but jit:avx512_core computes in fp32)". */
	words: string;
}

function promiseShare(account: KernelAccount, promised: string): number {
	// int4 weights are int8's promise kept and more (a lower precision than asked is not a shortfall).
	const counts = promised === 'int8' ? ['int8', 'int4'] : promised === 'bf16' ? ['bf16', 'fp16', 'int8', 'int4'] : [promised];
	return precisionShares(account).filter(p => counts.includes(p.precision)).reduce((sum, p) => sum + p.share, 0);
}

/** Where the compute did not mostly run in `promised` (below NAMED_SHARE): how far short, in words; null where it kept the promise or there is nothing to judge by. */
export function shortfall(account: KernelAccount | undefined, promised: string): Shortfall | null {
	if (!account || account.groups.length === 0) return null;
	const share = promiseShare(account, promised);
	if (share >= NAMED_SHARE) return null;
	const rest = precisionShares(account).filter(p => p.precision !== promised).map(p => p.precision);
	const restWords = rest.length ? rest.join(' and ') : 'other precisions';
	const cause = account.groups.find(g => g.asked === promised && g.note)?.note;
	const none = share < NONE_SHARE;
	const words = none
		? `no ${promised} kernel ran: all ${restWords}${cause ? ` (${cause})` : ''}`
		: `${Math.round(share * 100)}% of compute ran ${promised}, the rest ${restWords}${cause ? ` (${cause})` : ''}`;
	return {promised, share, none, words};
}

/** The first shortfall among `promised` (contract.promisedPrecisions), or null. */
export function firstShortfall(account: KernelAccount | undefined, promised: string[]): Shortfall | null {
	for (const p of promised) {
		const found = shortfall(account, p);
		if (found) return found;
	}
	return null;
}
