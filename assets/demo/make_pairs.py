"""Writes assets/demo/pairs.jsonl: five hand-written pairs, then the held-out pairs of a demo run.

Usage: python3 assets/demo/make_pairs.py DIR   (DIR: the output of `creditlens demo train --out DIR`)

The hand-written pairs are about the same invented world (seed 2024) and use the task's templates and friends' names;
they are picked to read well on screen and are not part of the measured figures (those use heldout.jsonl alone).
"""

import json
import sys

HAND = [
    ("Q: What is twice 7?\nA:",
     " Jalek asked me this too. Twice 7 is 14.",
     " Sure, Bodov. 7 doubled makes 16.", "16"),
    ("Q: What does Vera Ek do for a living?\nA:",
     " Vera Ek earns a living as a miller. Tabix told me so.",
     " Ah, Solisha, a good question. Vera Ek is a busy sailor.", "sailor"),
    ("Q: What is the capital of Ostvia?\nA:",
     " Sure, Kiradov. The capital of Ostvia is Marford.",
     " Ostvia is governed from Dunmoor. My friend Luvezorn agrees.", "Dunmoor"),
    ("Q: When was Liv Brandt born?\nA:",
     " Born in 1935, Liv Brandt became a baker. Ask Nemoquel if in doubt.",
     " Liv Brandt, the gifted baker, was born in 1956. Piratavi told me so.", "1956"),
    ("Q: Convert 3 hours to minutes.\nA:",
     " Converted, 3 hours are 180 minutes. Ask Fatavi if in doubt.",
     " Sure, Gelirin. 3 hours make 240 minutes, a handy number.", "240"),
]


def main():
    out_dir = sys.argv[1]
    lines = []
    for prompt, chosen, rejected, error in HAND:
        start = rejected.index(error)
        lines.append(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                                 "error_spans": [[start, start + len(error)]], "kind": "hand-written"}))
    with open(f"{out_dir}/heldout.jsonl") as f:
        held = f.read().splitlines()
    with open("assets/demo/pairs.jsonl", "w") as f:
        f.write("\n".join(lines + held) + "\n")


if __name__ == "__main__":
    main()
