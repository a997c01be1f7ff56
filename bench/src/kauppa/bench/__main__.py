from kauppa.bench.run import main

main()
