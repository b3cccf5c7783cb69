from vconstore.cli import main

raise SystemExit(main())
