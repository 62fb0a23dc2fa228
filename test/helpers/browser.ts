// A real headless browser for the HTML pages: Debian's chromium (installed by
// scripts/setup-browser.sh, never downloaded by playwright), driven by playwright-core.
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';
import type {BrowserContext} from 'playwright-core';

export const CHROMIUM = process.env['GT_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where screenshots are kept as test artifacts (git-ignored). */
export const ARTIFACTS_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'test-artifacts');

export function browserAvailable(): boolean {
	return existsSync(CHROMIUM);
}

export interface OpenBrowser {
	context: BrowserContext;
	close: () => Promise<void>;
}

/**
 * Chromium with a fresh profile (playwright passes it as --user-data-dir) and nothing
 * that talks to the network on its own; the context is offline besides.
 */
export async function openBrowser(): Promise<OpenBrowser> {
	const profile = mkdtempSync(path.join(os.tmpdir(), 'gt-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		offline: true,
		viewport: {width: 1000, height: 800},
		args: [
			'--headless',
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
		],
	});
	return {
		context,
		close: async () => {
			await context.close();
			rmSync(profile, {recursive: true, force: true});
		},
	};
}
