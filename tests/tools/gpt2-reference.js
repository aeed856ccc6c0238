#!/usr/bin/env node
// Writes tests/PicoGpt.Tests/Fixtures/tokenizer/gpt2-reference.json: GPT-2 token ids computed by the npm package
// gpt-3-encoder (a port of OpenAI's encoder.py), for a hostile corpus and for tinyshakespeare.
//
//   mkdir -p /tmp/enc && (cd /tmp/enc && npm install gpt-3-encoder@1.1.4)
//   node tests/tools/gpt2-reference.js /tmp/enc            # or GPT3_ENCODER_DIR=/tmp/enc node tests/tools/gpt2-reference.js
//   python3 tests/tools/gpt2-openai-check.py               # then: cross-check with OpenAI's encoder.py logic
//
// The install folder stays outside the repository. tinyshakespeare is the committed data/tinyshakespeare.txt.
// Lone surrogates: PicoGpt replaces each with U+FFFD before encoding; this script encodes the raw string and checks
// that gpt-3-encoder gives the same ids for the replaced string (its TextEncoder does that replacement itself).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const installDir = process.argv[2] || process.env.GPT3_ENCODER_DIR;
if (!installDir) {
  console.error('usage: node gpt2-reference.js <folder where gpt-3-encoder is installed> (or set GPT3_ENCODER_DIR)');
  process.exit(2);
}
const pkgDir = path.join(path.resolve(installDir), 'node_modules', 'gpt-3-encoder');
const { encode, decode } = require(pkgDir);
const pkgVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;

const repo = path.resolve(__dirname, '..', '..');
const out = path.join(repo, 'tests', 'PicoGpt.Tests', 'Fixtures', 'tokenizer', 'gpt2-reference.json');

// gpt-3-encoder's split pattern (Encoder.js), used only to encode tinyshakespeare chunk by chunk (see below).
const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const cases = [
  // published ids (GPT-2 papers, tutorials, tiktoken docs)
  ['published hello', 'Hello, I am'],
  ['published effort', 'Every effort moves you'],
  ['published heroes', 'Not all heroes wear capes.'],
  ['published turing', 'Alan Turing theorized that computers would one day become'],
  // prose
  ['prose', 'The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times; ' +
    'it was the age of wisdom, it was the age of foolishness...\n\nChapter 2\n\n"Well," said Mr. Bennet, "I hope so!"'],
  ['shakespeare', 'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n'],
  ['long word', 'pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism'],
  ['repeated letters', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
  ['mixed case', 'HELLO hello Hello hELLO iPhone McDonald\'s NASA\'s'],
  // code
  ['python code', 'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\nprint([fib(i) for i in range(10)])\n'],
  ['csharp code', 'public static int[] Encode(string text)\n{\n\tvar ids = new List<int>();\n\tfor (int i = 0; i < text.Length; i++)\n\t\tids.Add(text[i]);\n\treturn ids.ToArray();\n}\n'],
  ['tabs and spaces', '\tone\n\t\ttwo\n  \tmixed\t  \n\t \t end'],
  ['json', '{"name": "gpt2", "n_embd": 768, "layers": [1, 2, 3], "ok": true, "x": null}'],
  ['html', '<div class="a"><p>Hello&nbsp;world &amp; friends</p></div>'],
  ['url and email', 'https://example.com/path?q=1&lang=en#frag mailto:someone@example.org'],
  // white space
  ['three spaces the', '   the'],
  ['one space', ' '],
  ['two spaces', '  '],
  ['spaces between', 'a  b   c    d     e'],
  ['trailing spaces', 'trailing   '],
  ['leading spaces', '    leading'],
  ['three newlines', '\n\n\n'],
  ['newlines between', 'line1\n\nline2\n\n\nline3\n'],
  ['crlf', 'windows\r\nline\r\n\r\nend\r\n'],
  ['space newline space', ' \n \n  x  \n'],
  ['many spaces', ' '.repeat(40) + 'x' + ' '.repeat(40)],
  ['unicode spaces', 'a\u00a0b\u2003c\u3000d\u2028e\u2029f\u202fg'],
  ['vertical tab formfeed', 'a\u000bb\u000cc'],
  ['zero width', 'zero\u200bwidth\u200cnon\u200djoiner\u2060'],
  ['nel', 'next\u0085line \u0085 x'],
  ['bom', '\ufeffbom at start and \ufeff inside'],
  // U+0085 and U+FEFF: white space in one regex dialect and not the other (encoder.py: U+0085 yes, U+FEFF no; JavaScript: the reverse)
  ['nel runs', '\u0085\u0085x  \u0085x !\u0085 a\u0085\u0085\u0085b \u0085 \n\u0085\n'],
  ['bom runs', 'a  \ufeffb   \ufeff \ufeff\ufeffx x\ufeff! \ufeff\ufeff  \n\ufeff\n'],
  // numbers
  ['digits', '0123456789'],
  ['long number', '3141592653589793238462643383279502884197169399375105820974944592307816406286'],
  ['numbers in text', 'In 2024, 1,000,000 people paid $3.50 (about 12.5%) on 03/04/2025 at 10:45pm; +44 20 7946 0958.'],
  ['number words', 'x1 x12 x123 1x 12x 123x 1.2.3 1e10 -7 0x1F'],
  ['other numbers', '½ ¾ ² ³ Ⅻ ① ٣ ३ 五'],
  // contractions
  ['contractions lower', "it's isn't they're we've I'm you'll he'd can't won't"],
  ['contractions upper', "IT'S ISN'T THEY'RE WE'VE I'M YOU'LL HE'D CAN'T WON'T"],
  ['contractions mixed', "It'S They'Re We'Ve I'M You'Ll He'D"],
  ['contractions alone', "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D '"],
  ['contractions glued', "'s's'll'd''re'''ve"],
  ['curly apostrophe', 'it\u2019s they\u2019re \u2018quoted\u2019 \u201cdouble\u201d'],
  // punctuation
  ['punctuation runs', '!!!???... --- ---> <=> ... ,,, ;;; ::: !?!? ?!'],
  ['brackets', '(){}[]<> (( )) {{ }} [[ ]] <<>>'],
  ['symbols', '@#$%^&*_+=|\\/~`'],
  ['quotes', '"double" \'single\' `back` """triple"""'],
  ['comma joins', 'a,b,c "a","b" },{" ),( ],['],
  ['space punctuation', 'a . b , c ! d ? e ; f : g'],
  // accented Latin and other scripts
  ['accented latin', 'café naïve résumé Ångström Ærøskøbing Straße façade jalapeño Dvořák Łódź'],
  ['combining marks', 'cafe\u0301 nai\u0308ve A\u030a Z\u0327\u0301'],
  ['greek cyrillic', 'Ελληνικά γράμματα και Русский язык, Україна'],
  ['arabic hebrew', 'مرحبا بالعالم שלום עולם'],
  ['devanagari thai', 'हिन्दी भाषा ภาษาไทย'],
  ['cjk', '日本語のテキスト、中文文本。한국어 텍스트'],
  ['cjk no spaces', '我爱自然语言处理和机器学习'],
  ['fullwidth', 'ＡＢＣ　１２３！'],
  // outside the BMP
  ['emoji', '😀 😂 🤖 🎉 👍'],
  ['emoji skin tone', '👍🏽 👋🏿'],
  ['emoji zwj family', '👨‍👩‍👧'],
  ['emoji zwj mixed', 'family: 👨‍👩‍👧‍👦, flag: 🏳️‍🌈, woman technologist: 👩🏽‍💻.'],
  ['flags', '🇯🇵🇫🇷 🇺🇸'],
  ['emoji in words', 'hello😀world 😀hello world😀'],
  ['math bold letters', '𝐁𝐨𝐥𝐝 𝐭𝐞𝐱𝐭 and 𝑖𝑡𝑎𝑙𝑖𝑐'],
  ['math digits', '𝟏𝟐𝟑 𝟘𝟙'],
  ['supplementary letters', 'a𝐀b 𝐀 𠀀𠀁 𐌰𐌱𐌲 𓀀'],
  ['supplementary mixed', ' 𝐀😀 😀𝐀 𝐀1 1𝐀'],
  ['supplementary contractions', "𝐈'𝐦 𝐡𝐞𝐫𝐞, 𝐢𝐭'𝐬 𝐲𝐨𝐮'𝐥𝐥 𝐀's 𝐁'LL 𠀀'd"],
  ['supplementary punctuation', '𝐀! 𝐀... (𝐀) "𝐁𝐨𝐥𝐝" 😀𝐀 x😀𝐀y 𝟏% 1𝟏 𝐀\'\''],
  // special token as text
  ['endoftext plain', '<|endoftext|>'],
  ['endoftext inside', 'The end.<|endoftext|>A new document begins'],
  ['endoftext lookalike', '<|endoftext| <endoftext|> <|startoftext|>'],
  // edge cases
  ['empty', ''],
  ['single letter', 'a'],
  ['single newline', '\n'],
  ['control characters', '\u0000\u0001\u0007\u001b[31mred\u001b[0m\u007f'],
  ['latin1 range', String.fromCharCode(...range(0x20, 0xff))],
  ['c0 and c1 controls', String.fromCharCode(...range(0x00, 0x1f), ...range(0x80, 0x9f))],
  ['replacement char', 'bad \ufffd char'],
  ['private use and noncharacters', '\ue000\uf8ff\ufdd0\uffff'],
  // invalid UTF-16: lone surrogates (replaced with U+FFFD before encoding)
  ['lone high surrogate', '\ud800'],
  ['lone low surrogate', 'a\udc00b'],
  ['lone surrogate in word', 'ab\ud83dcd'],
  ['pair then lone', 'x\ud83d\ude00\ud83d'],
  ['lone then space', '\udfff the'],
];

function hasLoneSurrogate(s) { return !s.isWellFormed(); }
function replaceLoneSurrogates(s) { return s.toWellFormed(); }

const sameIds = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

const outCases = [];
for (const [name, text] of cases) {
  const ids = encode(text);
  if (ids.some(x => typeof x !== 'number')) throw new Error(`${name}: gpt-3-encoder returned a non-number id`);
  const c = { name };
  if (hasLoneSurrogate(text)) {
    const replaced = replaceLoneSurrogates(text);
    const ids2 = encode(replaced);
    if (!sameIds(ids, ids2)) throw new Error(`${name}: gpt-3-encoder gives different ids after replacing lone surrogates`);
    c.utf16 = Array.from(text, ch => ch.length === 1 ? [ch.charCodeAt(0)] : [ch.charCodeAt(0), ch.charCodeAt(1)]).flat();
    c.replaced = replaced;
  } else {
    c.text = text;
    // (gpt-3-encoder's decode() uses a TextDecoder that drops a leading U+FEFF, so compare without it)
    if (decode(ids) !== text.replace(/^\ufeff/, '')) throw new Error(`${name}: gpt-3-encoder does not round-trip`);
  }
  c.ids = ids;
  outCases.push(c);
}

// tinyshakespeare: gpt-3-encoder's encode() concatenates arrays chunk by chunk, which is quadratic on 1 MB, so the
// text is split with the same pattern and each chunk is encoded on its own. That is the same computation: encode()
// of one chunk re-splits it into exactly that chunk. Checked here against one encode() call on the first 50,000 chars.
function encodeByChunks(text) {
  const ids = [];
  for (const m of text.matchAll(pat)) for (const id of encode(m[0])) ids.push(id);
  return ids;
}
const shakesPath = path.join(repo, 'data', 'tinyshakespeare.txt');
const shakesBytes = fs.readFileSync(shakesPath);
const shakes = shakesBytes.toString('utf8');
const head = shakes.slice(0, 50000);
if (!sameIds(encode(head), encodeByChunks(head))) throw new Error('chunked encoding differs from encode() on the first 50,000 characters');
const t0 = Date.now();
const shakesIds = encodeByChunks(shakes);
console.error(`tinyshakespeare: ${shakesIds.length} ids in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (decode(shakesIds) !== shakes) throw new Error('tinyshakespeare does not round-trip');

const fixture = {
  about: 'GPT-2 token ids from the npm package gpt-3-encoder (port of OpenAI encoder.py), written by tests/tools/gpt2-reference.js; ' +
    'openaiIds (added by tests/tools/gpt2-openai-check.py) is present only where OpenAI\'s encoder.py logic gives different ids. ' +
    'Cases with lone surrogates carry utf16 (code units) instead of text, and replaced (the text after U+FFFD replacement).',
  generator: { package: 'gpt-3-encoder', version: pkgVersion, node: process.version },
  cases: outCases,
  tinyshakespeare: {
    file: 'tinyshakespeare.txt',
    fileSha256: crypto.createHash('sha256').update(shakesBytes).digest('hex'),
    idCount: shakesIds.length,
    idsSha256: crypto.createHash('sha256').update(shakesIds.join(','), 'utf8').digest('hex'),
    idsSha256Of: 'the ids as decimal numbers joined by "," (no spaces), UTF-8',
    first200: shakesIds.slice(0, 200),
  },
};

// One case per line keeps the file small and diffs readable.
const lines = ['{'];
lines.push(`  "about": ${JSON.stringify(fixture.about)},`);
lines.push(`  "generator": ${JSON.stringify(fixture.generator)},`);
lines.push('  "cases": [');
outCases.forEach((c, i) => lines.push('    ' + JSON.stringify(c) + (i < outCases.length - 1 ? ',' : '')));
lines.push('  ],');
lines.push(`  "tinyshakespeare": ${JSON.stringify(fixture.tinyshakespeare)}`);
lines.push('}');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n') + '\n');
console.error(`wrote ${out}: ${outCases.length} cases`);
