// The allocator libraries the recipes preload with LD_PRELOAD: the one declaration that
// detection (which files to look for), the recipe schema (requires.library, ${name}
// placeholders), the install hints, `setup --system` and every line that names them derive from.

export interface AllocatorLibrary {
	/** File names to look for, best first: distributions ship versioned sonames only (the bare .so comes with -dev). */
	files: readonly string[];
	/** Debian/Ubuntu package; aptT64 is its name after the 64-bit time_t transition, where it was renamed. */
	apt: string;
	aptT64?: string;
	/** Fedora, RHEL, Amazon Linux (dnf/yum) and SUSE (zypper) packages. */
	rpm: string;
	zypper: string;
}

export const ALLOCATORS = {
	// Full tcmalloc beats minimal.
	tcmalloc: {
		files: ['libtcmalloc.so.4', 'libtcmalloc.so', 'libtcmalloc_minimal.so.4', 'libtcmalloc_minimal.so'],
		apt: 'libgoogle-perftools4',
		aptT64: 'libgoogle-perftools4t64',
		rpm: 'gperftools-libs',
		zypper: 'libtcmalloc4',
	},
	jemalloc: {files: ['libjemalloc.so.2', 'libjemalloc.so'], apt: 'libjemalloc2', rpm: 'jemalloc', zypper: 'libjemalloc2'},
	// What PyTorch's aarch64 wheels bundle from 2.10 for their tensors; preloaded, it serves every other allocation too.
	mimalloc: {files: ['libmimalloc.so.2', 'libmimalloc.so.3', 'libmimalloc.so'], apt: 'libmimalloc2.0', rpm: 'mimalloc', zypper: 'libmimalloc2'},
} as const satisfies Record<string, AllocatorLibrary>;

export type Library = keyof typeof ALLOCATORS;

/** In the order their recipes are tried. */
export const LIBRARY_NAMES = Object.keys(ALLOCATORS) as Library[];

export function isLibrary(name: string): name is Library {
	return Object.hasOwn(ALLOCATORS, name);
}

/** Whether a library file is one of them (libtcmalloc.so.4, libtcmalloc_minimal.so.4, libmimalloc.so.2.0, …). */
export function isAllocatorFile(file: string): boolean {
	return LIBRARY_NAMES.some(name => file.startsWith(`lib${name}`));
}

/** "tcmalloc, jemalloc and mimalloc" (or "or"), for the lines that name them all. */
export function libraryList(join: 'and' | 'or' = 'and'): string {
	return `${LIBRARY_NAMES.slice(0, -1).join(', ')} ${join} ${LIBRARY_NAMES.at(-1)!}`;
}

/**
 * The word `scripts/setup-system.sh` takes for each library: name:file:apt candidates
 * (comma-separated, the first the package lists know is used):rpm:zypper.
 */
export function setupSystemArgs(): string[] {
	return LIBRARY_NAMES.map(name => {
		const lib: AllocatorLibrary = ALLOCATORS[name];
		const apt = [lib.aptT64, lib.apt].filter(Boolean).join(',');
		return [name, lib.files[0], apt, lib.rpm, lib.zypper].join(':');
	});
}
