process.stderr.write('npm run deploy-commands: not built yet\n');
process.exit(1);
