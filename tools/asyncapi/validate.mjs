// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node validate.mjs <file.json>...   Prints one JSON object: file -> diagnostics
// (errors and warnings); exits 1 when any document has an error or does not parse.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
const results = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text);
  const items = diagnostics.map((d) => ({
    severity: ["error", "warning", "information", "hint"][d.severity] ?? String(d.severity),
    code: String(d.code),
    message: d.message,
    path: d.path.join("/"),
  }));
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (document === undefined || errors.length > 0) failed = true;
  results[file] = {
    parsed: document !== undefined,
    version: document?.version(),
    sends: document ? document.operations().filterBySend().length : 0,
    receives: document ? document.operations().filterByReceive().length : 0,
    diagnostics: items,
  };
}
console.log(JSON.stringify(results, null, 2));
process.exit(failed ? 1 : 0);
