"""``zslbench score``: score a prediction matrix saved by other code and store it as a run."""

from __future__ import annotations

import click

from zslbench.scoring.alignment import ROW_ORDERS
from zslbench.scoring.readers import FORMATS


@click.command("score", epilog=(
    "Rows: by default the test_seen images, then the test_unseen images, each block in the order of the split "
    "file (test_seen_loc / test_unseen_loc of att_splits.mat); --order unseen-first swaps the blocks; "
    "--row-ids names each row's image. Columns: all classes in the split file's class order, or the class "
    "names listed in --columns. Validation rows (--val): the pseudo-seen then pseudo-unseen images of the "
    "GBU validation split (print them with --print-val-ids), or --val-row-ids. See docs/scoring.md."))
@click.argument("predictions", type=click.Path(dir_okay=False), required=False)
@click.option("--dataset", "-d", required=True, help="Registered dataset the predictions are for (e.g. cub).")
@click.option("--name", help="Run name shown in compare/report (default: the file name without suffix).")
@click.option("--val", "val", type=click.Path(dir_okay=False),
              help="Validation predictions: choose the calibration gamma on them (CS-U/S/H), as --protocol gbu does.")
@click.option("--data-root", help="The dataset's copy (default $ZSLBENCH_DATA/<dataset>).")
@click.option("--key", help="Array name inside an .npz/.mat/.safetensors/.pt file holding several.")
@click.option("--val-key", help="Array name inside the --val file.")
@click.option("--order", type=click.Choice(ROW_ORDERS), default=ROW_ORDERS[0], show_default=True,
              help="Which test block comes first (rows in split-file order within each block).")
@click.option("--row-ids", type=click.Path(dir_okay=False),
              help="One image per line for each row: its path (as in res101.mat) or 0-based image-list index.")
@click.option("--columns", type=click.Path(dir_okay=False), help="One class name per line, one per matrix column.")
@click.option("--labels", type=click.Path(dir_okay=False),
              help="0-based class id of each row (default: the dataset's own labels, res101.mat for xlsa17).")
@click.option("--val-row-ids", type=click.Path(dir_okay=False), help="Image of each --val row (trainval images only).")
@click.option("--val-seed", type=int, default=0, show_default=True, help="Seed of the GBU validation split.")
@click.option("--trust-order", is_flag=True, help="Skip the check that the two test blocks are not swapped.")
@click.option("--print-val-ids", is_flag=True,
              help="Print the validation images (pseudo-seen, then pseudo-unseen) that --val rows follow, and exit.")
@click.option("--out", type=click.Path(file_okay=False), help="Run store root (default $ZSLBENCH_RUNS or ./runs).")
@click.option("--tag", "tags", multiple=True, help="Tag the stored run (repeat for several).")
def score_command(predictions: str | None, dataset: str, name: str | None, val: str | None, data_root: str | None,
                  key: str | None, val_key: str | None, order: str, row_ids: str | None, columns: str | None,
                  labels: str | None, val_row_ids: str | None, val_seed: int, trust_order: bool,
                  print_val_ids: bool, out: str | None, tags: tuple[str, ...]) -> None:
    from zslbench.errors import UsageError
    from zslbench.scoring.score import load_scoring_dataset, score, summary_lines, validation_image_ids

    if predictions is None and not print_val_ids:
        raise UsageError("missing PREDICTIONS: the file of scores or predicted labels to score",
                         "zslbench score PREDICTIONS --dataset NAME")
    if print_val_ids:
        loaded = load_scoring_dataset(dataset, data_root)
        click.echo("\n".join(validation_image_ids(loaded, val_seed)))
        return
    run = score(predictions, dataset, name=name, val=val, data_root=data_root, key=key, val_key=val_key, order=order,
                row_ids=row_ids, columns=columns, labels=labels, val_row_ids=val_row_ids, val_seed=val_seed,
                trust_order=trust_order, out=out, tags=tags)
    click.echo("\n".join(summary_lines(run)))


score_command.help = (f"Score PREDICTIONS ({', '.join(FORMATS)}) for DATASET under the honest protocol "
                      "and store them as a run that compare and report show.")
