from bench.sip2.run import main

main()
