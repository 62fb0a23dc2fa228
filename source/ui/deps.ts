// What the interactive face needs from the outside world, injected so that tests can
// pass fakes and run.tsx passes the real core functions.
import type {Delivered, DeliveryInput, DeliveryPlan} from '../core/report/index.js';
import type {Prepared, PrepareOptions, SessionOptions} from '../core/walk/index.js';
import type {Settings} from '../core/settings.js';
import type {SystemInstall} from '../core/machine/index.js';
import type {ModelSpec, SessionEvent, WalkResult} from '../core/types.js';

export interface UiDeps {
	prepare: (opts: PrepareOptions) => Promise<Prepared>;
	runSession: (prepared: Prepared, opts: SessionOptions, emit: (e: SessionEvent) => void) => Promise<WalkResult | null>;
	planDelivery: (input: DeliveryInput) => Promise<DeliveryPlan>;
	commitDelivery: (plan: DeliveryPlan) => Promise<Delivered>;
	/** Preferences (last model, budget, recipes) and the measurement history for --resume. */
	settings?: Settings;
	/** Which input kind a model's recipes are judged for (session.inputKind); see state.Options. */
	inputKind?: (m: ModelSpec) => string;
	/** `setup --system` (the allocator libraries), offered on the machine screen when they are missing; run only on the user's key. */
	installSystem?: (opts: {onLine: (line: string) => void; signal: AbortSignal}) => Promise<SystemInstall>;
	/** Whether an error from prepare() means "unreadable machine" (exit 3) rather than a bug. */
	isEnvironmentError?: (error: unknown) => boolean;
}
