#!/usr/bin/env python3
"""Cross-checks tests/PicoGpt.Tests/Fixtures/tokenizer/gpt2-reference.json (ids from gpt-3-encoder) against OpenAI's
own GPT-2 encoder logic (encoder.py from github.com/openai/gpt-2, reproduced below; needs the `regex` module).
That logic is Copyright (c) 2019 OpenAI, released under the repository's Modified MIT License; this script is a
test tool run by hand to make fixtures and is not part of the library.

For every case where encoder.py gives different ids from gpt-3-encoder, it stores them in the case as "openaiIds"
(PicoGpt follows encoder.py there) and prints the difference; it removes stale "openaiIds" otherwise. It also checks
the tinyshakespeare count and hash. Lone surrogates, which encoder.py cannot encode (str.encode('utf-8') raises), are
replaced with U+FFFD first, PicoGpt's documented rule.

    python3 tests/tools/gpt2-openai-check.py [--write] [GPT2_DIR]

GPT2_DIR holds GPT-2's vocab.json + merges.txt (default weights/gpt2, as `picogpt download gpt2` leaves it; the files
Gpt2Tokenizer.Default.Save writes are the same bytes). tinyshakespeare is the committed data/tinyshakespeare.txt.
"""
import hashlib, json, os, sys
from functools import lru_cache
import regex as re

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.path.join(REPO, 'data')
GPT2_DIR = os.path.join(REPO, 'weights', 'gpt2')
FIXTURE = os.path.join(REPO, 'tests', 'PicoGpt.Tests', 'Fixtures', 'tokenizer', 'gpt2-reference.json')


# ---- OpenAI gpt-2 src/encoder.py (MIT), unchanged apart from reading files ----
@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges, errors='replace'):
        self.encoder = encoder
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.errors = errors
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}
        self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            new_word = tuple(new_word)
            word = new_word
            if len(word) == 1:
                break
            else:
                pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        for token in re.findall(self.pat, text):
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(' '))
        return bpe_tokens
# ---- end of encoder.py ----


def replace_lone_surrogates(s):
    return s.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')


def main():
    args = sys.argv[1:]
    write = '--write' in args
    folders = [a for a in args if a != '--write']
    gpt2_dir = folders[0] if folders else GPT2_DIR
    with open(os.path.join(gpt2_dir, 'vocab.json'), encoding='utf-8') as f:
        encoder = json.load(f)
    with open(os.path.join(gpt2_dir, 'merges.txt'), encoding='utf-8') as f:
        bpe_data = f.read()
    bpe_merges = [tuple(merge_str.split()) for merge_str in bpe_data.split('\n')[1:-1]]
    enc = Encoder(encoder, bpe_merges)

    with open(FIXTURE, encoding='utf-8') as f:
        fixture = json.load(f)
    differ = []
    for case in fixture['cases']:
        text = case.get('text')
        if text is None:
            text = ''.join(map(chr, case['utf16']))
        ids = enc.encode(replace_lone_surrogates(text))
        if ids != case['ids']:
            differ.append(case['name'])
            print(f"{case['name']}: gpt-3-encoder {case['ids']}\n{' ' * len(case['name'])}  encoder.py    {ids}")
            case['openaiIds'] = ids
        else:
            case.pop('openaiIds', None)

    ts = fixture['tinyshakespeare']
    with open(os.path.join(DATA, ts['file']), encoding='utf-8') as f:
        ids = enc.encode(f.read())
    digest = hashlib.sha256(','.join(map(str, ids)).encode('utf-8')).hexdigest()
    ok = len(ids) == ts['idCount'] and digest == ts['idsSha256'] and ids[:200] == ts['first200']
    print(f"tinyshakespeare: {len(ids)} ids, {'same as' if ok else 'DIFFERENT from'} gpt-3-encoder")
    print(f"{len(fixture['cases'])} cases, {len(differ)} where encoder.py differs from gpt-3-encoder: {differ}")

    if write:
        with open(FIXTURE, encoding='utf-8') as f:
            lines = f.read().split('\n')
        # rewrite only the lines of cases that gain or lose openaiIds, keeping the one-case-per-line layout
        by_name = {c['name']: c for c in fixture['cases']}
        for i, line in enumerate(lines):
            s = line.strip().rstrip(',')
            if s.startswith('{"name"'):
                c = by_name[json.loads(s)['name']]
                if 'openaiIds' not in c and '"openaiIds"' not in line:
                    continue
                lines[i] = line[:len(line) - len(line.lstrip())] + json.dumps(c, ensure_ascii=False, separators=(',', ':')) + (',' if line.rstrip().endswith(',') else '')
        with open(FIXTURE, 'w', encoding='utf-8', newline='\n') as f:
            f.write('\n'.join(lines))
        print(f'wrote {FIXTURE}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
