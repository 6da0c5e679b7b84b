"""``python -m zslbench`` (what ``torchrun ... -m zslbench run ...`` launches)."""

from zslbench.cli import main

main()
