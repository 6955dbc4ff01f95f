process.stderr.write('npm run stylize: not built yet\n');
process.exit(1);
