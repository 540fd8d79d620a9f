from lobbywatch.cli import main

main()
