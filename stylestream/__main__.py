from stylestream.cli import main

main()
