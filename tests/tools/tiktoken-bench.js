// Single-threaded GPT-2 encoding speed of the npm package `tiktoken` (WASM build of OpenAI's tiktoken), used by
// `picogpt bench` for comparison. Usage: NODE_PATH=<folder with node_modules/tiktoken> node tiktoken-bench.js FILE
// Prints one JSON line: {"mb_per_s": x, "tokens": n}.
const fs = require("fs");
const { get_encoding } = require("tiktoken");
const text = fs.readFileSync(process.argv[2], "utf8");
const enc = get_encoding("gpt2");
const mb = Buffer.byteLength(text, "utf8") / 1e6;
let n = enc.encode_ordinary(text).length;                     // warm-up
const reps = 3;
const t0 = process.hrtime.bigint();
for (let i = 0; i < reps; i++) n = enc.encode_ordinary(text).length;
const s = Number(process.hrtime.bigint() - t0) / 1e9 / reps;
console.log(JSON.stringify({ mb_per_s: mb / s, tokens: n }));
enc.free();
