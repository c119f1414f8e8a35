from gridsearch.cli import main

raise SystemExit(main())
