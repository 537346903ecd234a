from deblur.cli import main

raise SystemExit(main())
