from patchflow.cli import main

main()
