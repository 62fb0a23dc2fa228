// How a configuration and a throughput read to a person. One wording for the stderr
// log, the Ink screen, the env-file header and the reports, so they tell one story.
import path from 'node:path';
import type {Candidate} from './types.js';

/** "batch 8, channels_last, bf16 autocast, compile, 2 workers x 1 thread, libtcmalloc.so.4". */
export function describeCandidate(candidate: Candidate): string {
	const c = candidate.config;
	const parts = [`batch ${c.batchSize}`];
	if (c.channelsLast) parts.push('channels_last');
	if (c.autocast) parts.push(`${c.autocast} autocast`);
	if (c.fp32Precision) parts.push(`fp32 math as ${c.fp32Precision}`);
	if (c.compile) parts.push('compile');
	if (c.quantization) parts.push(c.quantization);
	if (c.backend !== 'torch') parts.push(c.backend);
	parts.push(`${c.workers} worker${c.workers === 1 ? '' : 's'} x ${c.threadsPerWorker} thread${c.threadsPerWorker === 1 ? '' : 's'}`);
	for (const [key, value] of Object.entries(candidate.env)) {
		if (key === 'OMP_NUM_THREADS') continue;
		parts.push(key === 'LD_PRELOAD' ? value.split(':').map((lib) => path.basename(lib)).join('+') : `${key}=${value}`);
	}
	return parts.join(', ');
}

/** "96.3" for throughput; more digits for small figures so they do not read as 0. */
export function formatRate(samplesPerSecond: number): string {
	return samplesPerSecond >= 100 ? samplesPerSecond.toFixed(0) : samplesPerSecond >= 10 ? samplesPerSecond.toFixed(1) : samplesPerSecond.toFixed(2);
}
