"""`python -m qa.fitting`: refit a model's ranker artifact from the shared training sets."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from index.embedding import BACKENDS, DEFAULT_BACKEND, load_encoder
from qa.fitting.fit import Settings, fit
from qa.fitting.fusion import FusionSettings, choose
from qa.fitting.sets import default_train
from qa.retrieval import DATA_DIR, model_key

REPO = Path(__file__).resolve().parents[2]


def command_line() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m qa.fitting", description=__doc__)
    parser.add_argument("--train", type=Path, default=default_train())
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="minilm (default), e5-small or a local model folder",
    )
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND)
    parser.add_argument("--out", type=Path, default=None, help="default: qa/data/<model key>")
    parser.add_argument("--cache", type=Path, default=REPO / "var" / "fit-cache")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="draws other training articles, questions and model seeds (default 0: the "
        "shipped artifact)",
    )
    vectors = parser.add_mutually_exclusive_group()
    vectors.add_argument(
        "--vector-models",
        action="store_true",
        help="refit the question adapter and the answer-type probes too (first run: embeds "
        "all of squad-train)",
    )
    vectors.add_argument(
        "--no-vector-models",
        action="store_true",
        help="fit without the adapter and the probes (default: keep those in the output folder)",
    )
    parser.add_argument(
        "--squad-docs",
        type=int,
        default=None,
        metavar="N",
        help="squad-train articles the trees and the corpus abstention see (default: 220)",
    )
    parser.add_argument(
        "--selqa-docs",
        type=int,
        default=None,
        metavar="N",
        help="SelQA articles the trees and the article-scope abstention see (default: 1800)",
    )
    parser.add_argument(
        "--corpus-questions",
        type=int,
        default=None,
        metavar="N",
        help="squad-train questions asked over the sampled articles for the corpus trees, half "
        "as many about their own article for the article trees (default: 16000)",
    )
    parser.add_argument(
        "--vector-docs",
        type=int,
        default=None,
        metavar="N",
        help="with --vector-models: fit them on N squad-train and N SelQA articles (those the "
        "trees use plus a seeded sample; default: all), for a model too slow to embed them all",
    )
    parser.add_argument(
        "--scope-abstention-only",
        action="store_true",
        help="keep the output folder's ranking and corpus abstention models, refit only the "
        "article-scope abstention model",
    )
    parser.add_argument(
        "--fusion-only",
        action="store_true",
        help="choose qa/fusion.py's weights instead: print the grid and the chosen weights "
        "(writes nothing)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, fit, say where the artifact went."""
    parser = command_line()
    args = parser.parse_args(argv)
    if not (args.train / "squad-train" / "set.json").is_file():
        parser.error(f"no training sets in {args.train} (set --train or NEWSQA_SHARED)")
    encoder = load_encoder(args.model, args.backend)
    if args.fusion_only:
        choose(encoder, FusionSettings(train=args.train, cache=args.cache))
        return 0
    out = args.out or DATA_DIR / model_key(encoder.model_id)
    if args.scope_abstention_only and not (out / "ranker.json").is_file():
        parser.error(f"--scope-abstention-only refits {out / 'ranker.json'}, which is missing")
    settings = settings_from(args, out)
    started = time.perf_counter()
    path = fit(encoder, settings, log=lambda line: print(line, flush=True))
    print(f"fitted {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


def settings_from(args: argparse.Namespace, out: Path) -> Settings:
    """The fit's settings from the command line's arguments."""
    settings = Settings(
        train=args.train,
        out=out,
        cache=args.cache,
        vector_models=None if args.no_vector_models else out,
        fit_vector_models=args.vector_models,
        vector_docs=args.vector_docs,
        base=out / "ranker.json" if args.scope_abstention_only else None,
        seed=args.seed,
    )
    samples = {"squad_docs": args.squad_docs, "selqa_docs": args.selqa_docs}
    settings = replace(settings, **{k: v for k, v in samples.items() if v is not None})
    if args.corpus_questions is not None:
        settings = replace(
            settings,
            corpus_questions=args.corpus_questions,
            article_questions=tuple(
                (name, args.corpus_questions // 2 if name == "squad-train" else size)
                for name, size in settings.article_questions
            ),
        )
    return settings


if __name__ == "__main__":
    sys.exit(main())
