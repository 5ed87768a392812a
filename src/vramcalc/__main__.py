from vramcalc.cli.app import main

main()
