"""Measure a shipped model's end-to-end speed on a device and record it in its card (`speed`, and `budget` if absent).

The card of a model shipped before cards carried speed gets it here, measured on this host, never typed in.
Usage: python bench/card_speed.py depth-x8 --device cpu-openvino [--budget params=0.6M]
"""
from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="shipped model name")
    ap.add_argument("--device", default="cpu-openvino")
    ap.add_argument("--budget", default="", help="KEY=VALUE the model was searched under, for a card without one")
    args = ap.parse_args()

    import yaml

    from dcnas_deploy import api
    from dcnas_deploy.pretrained import CARD, PRETRAINED_DIR
    from dcnas_deploy.train.ship_pretrained import update_card

    folder = PRETRAINED_DIR / args.name
    card = yaml.safe_load((folder / CARD).read_text())
    speed = api.measure_speed(folder / "model.pt", args.device)
    fields = {"speed": {**speed.to_dict(), "command": f"python bench/card_speed.py {args.name} --device {args.device}"}}
    if not card.get("budget"):
        if "=" not in args.budget:
            raise SystemExit(f"{args.name}'s card has no budget: give --budget KEY=VALUE (e.g. params=0.6M)")
        key, value = args.budget.split("=", 1)
        fields["budget"] = {key: value}
    print(f"{args.name} on {speed.device}: {speed.median_ms:.2f} ms median ({speed.p10_ms:.2f}–{speed.p90_ms:.2f}), "
          f"{speed.fps:.1f} fps → {update_card(args.name, fields)}")


if __name__ == "__main__":
    main()
