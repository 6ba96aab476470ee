import { App } from 'aws-cdk-lib';
import { defineSessionsApp } from './sessions-stack.ts';

defineSessionsApp(new App());
