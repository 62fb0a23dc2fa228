// The commands a person runs to meet a recipe's need, said in its reason: an allocator
// library's package on this distribution, the transparent huge pages mode, pip install in
// the environment that lacks a package; and the version comparison those needs rest on.
import {ALLOCATORS} from '../machine/allocators.js';
import type {AllocatorLibrary, Library} from '../machine/allocators.js';
import type {Detection} from '../types.js';

/** The 64-bit time_t transition renamed libraries from these releases on. */
const t64Since: Record<string, string> = {ubuntu: '24.04', debian: '13'};

const thpFile = '/sys/kernel/mm/transparent_hugepage/enabled';

/** The distribution's install command for an allocator library, or null for a distribution we do not know. */
export function libraryInstallCommand(library: Library, os: Detection['os']): string | null {
	const info: AllocatorLibrary = ALLOCATORS[library];
	const ids = [os.id, ...os.idLike].filter((id): id is string => Boolean(id));
	const has = (...names: string[]) => ids.some(id => names.includes(id));
	if (has('debian', 'ubuntu')) return `sudo apt-get install -y ${usesT64(os) && info.aptT64 ? info.aptT64 : info.apt}`;
	if (os.id === 'amzn' && os.versionId === '2') return `sudo yum install -y ${info.rpm}`;
	if (has('fedora', 'rhel', 'centos', 'amzn')) return `sudo dnf install -y ${info.rpm}`;
	if (has('suse', 'opensuse', 'sles')) return `sudo zypper install -y ${info.zypper}`;
	return null;
}

/** Ubuntu 24.04+ and Debian 13+ (and Debian testing, which has no VERSION_ID) use the t64 names. */
function usesT64(os: Detection['os']): boolean {
	// Derivatives number their releases their own way: we cannot tell, so keep the old name.
	const since = os.id ? t64Since[os.id] : undefined;
	if (!since) return false;
	return os.versionId === null ? os.id === 'debian' : compareVersions(os.versionId, since) >= 0;
}

export function thpCommand(mode: string): string {
	return `echo ${mode} | sudo tee ${thpFile}`;
}

export function pipInstall(interpreter: string, args: string[]): string {
	return [interpreter, '-m', 'pip', 'install', ...args].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
	return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Compares the leading numeric part: "2.3.1+cpu" vs "2.3" → 1. Missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
	const parse = (v: string) => (/^\d+(\.\d+)*/.exec(v)?.[0] ?? '0').split('.').map(Number);
	const [x, y] = [parse(a), parse(b)];
	for (let i = 0; i < Math.max(x.length, y.length); i++) {
		const diff = (x[i] ?? 0) - (y[i] ?? 0);
		if (diff !== 0) return Math.sign(diff);
	}
	return 0;
}
