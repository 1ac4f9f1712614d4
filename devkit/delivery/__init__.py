"""Getting the stack onto an engine: code bundles, emulator deploys, warm-up, watch, SAM and AWS delivery. Imports stack, engines and core."""
