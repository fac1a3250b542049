from statops.cli.app import main

main()
