"""Access to a deployed stack on any engine: its outputs, functions, tokens, consumers, queues, logs, events. Imports engines and core."""
