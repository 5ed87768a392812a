from vramcalc.cli.app import run

run()
